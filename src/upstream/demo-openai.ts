/**
 * The demo provider's OpenAI wire: chat completions, legacy completions, embeddings and responses, in
 * the shapes the `openai` SDK parses (non-streamed JSON, or SSE chunks ending in `data: [DONE]`, or
 * typed Responses API events).
 */
import {
  answer,
  CREATED,
  countWords,
  demoId,
  DemoBadRequest,
  embed,
  isRecord,
  lastUser,
  limitOf,
  messagesOf,
  modelOf,
  textOf,
  type Answer,
  type Plan,
} from "./demo-text.js";
import { encodeEvent, encodeJsonEvent } from "./sse.js";

type Json = Readonly<Record<string, unknown>>;

const ROLES = ["system", "developer", "user", "assistant", "tool", "function"];
const DONE = encodeEvent("[DONE]");
const DEFAULT_DIMENSIONS = 8;
const MAX_DIMENSIONS = 4096;

export function openaiError(message: string, param: string | null, type = "invalid_request_error") {
  return { error: { message, type, param, code: null } };
}

const finishReason = (a: Answer) => (a.truncated ? "length" : "stop");

const usageOf = (prompt: number, completion: number) => ({
  prompt_tokens: prompt,
  completion_tokens: completion,
  total_tokens: prompt + completion,
});

/** `stream_options.include_usage`: whether a stream ends with a usage chunk. */
function includeUsage(json: Json): boolean {
  const options = json.stream_options;
  if (options === undefined || options === null) return false;
  if (!isRecord(options)) throw new DemoBadRequest("'stream_options' must be an object", "stream_options");
  const flag = options.include_usage;
  if (flag !== undefined && typeof flag !== "boolean") {
    throw new DemoBadRequest(
      "'stream_options.include_usage' must be a boolean",
      "stream_options.include_usage",
    );
  }
  return flag === true;
}

/** A string, or a non-empty array of strings. */
function stringsOf(value: unknown, param: string): string[] {
  if (typeof value === "string") return [value];
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string")) return value;
  throw new DemoBadRequest(`'${param}' must be a string or a non-empty array of strings`, param);
}

export function chatCompletions(json: Json, body: string, stream: boolean): Plan {
  const model = modelOf(json);
  const messages = messagesOf(json.messages, ROLES, true);
  const [newLimit, oldLimit] = [limitOf(json, "max_completion_tokens"), limitOf(json, "max_tokens")];
  const withUsage = includeUsage(json);
  const prompt = lastUser(messages);
  const a = answer(model, prompt, newLimit ?? oldLimit);
  const usage = usageOf(countWords(messages.map((m) => m.text)), a.tokens.length);
  const id = demoId("chatcmpl-", body);
  if (!stream) {
    const message = { role: "assistant", content: a.text, refusal: null, annotations: [] };
    const choices = [{ index: 0, message, logprobs: null, finish_reason: finishReason(a) }];
    return {
      prompt,
      reply: {
        status: 200,
        json: { id, object: "chat.completion", created: CREATED, model, choices, usage },
      },
    };
  }
  const chunk = (choices: unknown[], extra?: object) =>
    encodeJsonEvent({
      id,
      object: "chat.completion.chunk",
      created: CREATED,
      model,
      choices,
      ...(withUsage ? { usage: null } : {}),
      ...extra,
    });
  const choice = (delta: object, finish: string | null = null) => ({
    index: 0,
    delta,
    logprobs: null,
    finish_reason: finish,
  });
  const events = [
    chunk([choice({ role: "assistant", content: "", refusal: null })]),
    ...a.tokens.map((content) => chunk([choice({ content })])),
    chunk([choice({}, finishReason(a))]),
    ...(withUsage ? [chunk([], { usage })] : []),
    DONE,
  ];
  return { prompt, reply: { events, firstToken: 1 } };
}

/** Legacy text completions: one choice per prompt. */
export function completions(json: Json, body: string, stream: boolean): Plan {
  const model = modelOf(json);
  const prompts = stringsOf(json.prompt, "prompt");
  const limit = limitOf(json, "max_tokens");
  const withUsage = includeUsage(json);
  const answers = prompts.map((p) => answer(model, p, limit));
  const usage = usageOf(
    countWords(prompts),
    answers.reduce((n, a) => n + a.tokens.length, 0),
  );
  const head = { id: demoId("cmpl-", body), object: "text_completion", created: CREATED, model };
  const prompt = prompts.at(-1) ?? "";
  const choice = (text: string, index: number, finish: string | null) => ({
    text,
    index,
    logprobs: null,
    finish_reason: finish,
  });
  if (!stream) {
    const choices = answers.map((a, i) => choice(a.text, i, finishReason(a)));
    return { prompt, reply: { status: 200, json: { ...head, choices, usage } } };
  }
  const chunk = (choices: unknown[], extra?: object) =>
    encodeJsonEvent({ ...head, choices, ...(withUsage ? { usage: null } : {}), ...extra });
  const events = [
    ...answers.flatMap((a, i) => [
      ...a.tokens.map((text) => chunk([choice(text, i, null)])),
      chunk([choice("", i, finishReason(a))]),
    ]),
    ...(withUsage ? [chunk([], { usage })] : []),
    DONE,
  ];
  return { prompt, reply: { events, firstToken: 0 } };
}

/** Embeddings: `dimensions` (default 8) deterministic floats per input, or their float32 base64. */
export function embeddings(json: Json, stream: boolean): Plan {
  if (stream) throw new DemoBadRequest("embeddings cannot be streamed", "stream");
  const model = modelOf(json);
  const inputs = stringsOf(json.input, "input");
  const format = json.encoding_format ?? "float";
  if (format !== "float" && format !== "base64") {
    throw new DemoBadRequest("'encoding_format' must be 'float' or 'base64'", "encoding_format");
  }
  const dimensions = limitOf(json, "dimensions") ?? DEFAULT_DIMENSIONS;
  if (dimensions > MAX_DIMENSIONS) {
    throw new DemoBadRequest(`'dimensions' must be at most ${MAX_DIMENSIONS}`, "dimensions");
  }
  const data = inputs.map((input, index) => {
    const vector = embed(model, input, dimensions);
    const embedding =
      format === "float" ? vector : Buffer.from(new Float32Array(vector).buffer).toString("base64");
    return { object: "embedding", index, embedding };
  });
  const tokens = countWords(inputs);
  const json200 = { object: "list", data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
  return { prompt: inputs.at(-1) ?? "", reply: { status: 200, json: json200 } };
}

/** The Responses API input: a string, or a non-empty array of items (messages, tool outputs…). */
function responseInput(value: unknown): { role: string; text: string }[] {
  if (typeof value === "string") return [{ role: "user", text: value }];
  if (!Array.isArray(value) || value.length === 0) {
    throw new DemoBadRequest("'input' must be a string or a non-empty array of items", "input");
  }
  return value.map((item: unknown, i) => {
    if (!isRecord(item)) throw new DemoBadRequest(`'input[${i}]' must be an object`, `input[${i}]`);
    const role = typeof item.role === "string" ? item.role : "";
    const output = typeof item.output === "string" ? ` ${item.output}` : "";
    return { role, text: textOf(item.content) + output };
  });
}

export function responses(json: Json, body: string, stream: boolean): Plan {
  const model = modelOf(json);
  const input = responseInput(json.input);
  const instructions = json.instructions ?? null;
  if (instructions !== null && typeof instructions !== "string") {
    throw new DemoBadRequest("'instructions' must be a string", "instructions");
  }
  const limit = limitOf(json, "max_output_tokens");
  const prompt = lastUser(input);
  const a = answer(model, prompt, limit);
  const inputTokens = countWords([instructions ?? "", ...input.map((m) => m.text)]);
  const outputTokens = a.tokens.length;
  const usage = {
    input_tokens: inputTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: outputTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: inputTokens + outputTokens,
  };
  const done = a.truncated ? "incomplete" : "completed";
  const itemId = demoId("msg_", body, 48, "item");
  const part = (text: string) => ({ type: "output_text", text, annotations: [] });
  const item = (status: string, content: unknown[]) => ({
    type: "message",
    id: itemId,
    status,
    role: "assistant",
    content,
  });
  const response = (status: string, output: unknown[]) => ({
    id: demoId("resp_", body, 48),
    object: "response",
    created_at: CREATED,
    status,
    error: null,
    incomplete_details: status === "incomplete" ? { reason: "max_output_tokens" } : null,
    instructions,
    max_output_tokens: limit ?? null,
    model,
    output,
    parallel_tool_calls: true,
    temperature: 1,
    tool_choice: "auto",
    tools: [],
    top_p: 1,
    metadata: {},
    usage: status === "in_progress" ? null : usage,
  });
  const final = response(done, [item(done, [part(a.text)])]);
  if (!stream) return { prompt, reply: { status: 200, json: final } };
  const where = { item_id: itemId, output_index: 0, content_index: 0 };
  const steps: [string, object][] = [
    ["response.created", { response: response("in_progress", []) }],
    ["response.in_progress", { response: response("in_progress", []) }],
    ["response.output_item.added", { output_index: 0, item: item("in_progress", []) }],
    ["response.content_part.added", { ...where, part: part("") }],
    ...a.tokens.map((delta): [string, object] => [
      "response.output_text.delta",
      { ...where, delta, logprobs: [] },
    ]),
    ["response.output_text.done", { ...where, text: a.text, logprobs: [] }],
    ["response.content_part.done", { ...where, part: part(a.text) }],
    ["response.output_item.done", { output_index: 0, item: item(done, [part(a.text)]) }],
    [`response.${done}`, { response: final }],
  ];
  const events = steps.map(([type, rest], sequence_number) =>
    encodeJsonEvent({ type, sequence_number, ...rest }, type),
  );
  return { prompt, reply: { events, firstToken: 4 } };
}
