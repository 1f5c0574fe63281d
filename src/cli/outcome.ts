/** What a command reports back besides its output. Exit codes: 0 done, 1 denied or refused, 2 invalid input. */
export interface Outcome {
  exitCode: number;
}

export const EXIT_DENIED = 1;
/** A refusal: by the server (remote commands) or by Clearance itself (local ones). */
export const EXIT_REFUSED = 1;
export const EXIT_INVALID = 2;
