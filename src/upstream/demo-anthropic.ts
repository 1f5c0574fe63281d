/**
 * The demo provider's Anthropic wire: `messages` (JSON, or the typed SSE event sequence the
 * `@anthropic-ai/sdk` MessageStream accumulates) and `messages.count_tokens`.
 */
import {
  answer,
  countWords,
  demoId,
  DemoBadRequest,
  isRecord,
  lastUser,
  limitOf,
  messagesOf,
  modelOf,
  textOf,
  type Message,
  type Plan,
} from "./demo-text.js";
import { encodeJsonEvent } from "./sse.js";

type Json = Readonly<Record<string, unknown>>;

const ROLES = ["user", "assistant", "system"];

export function anthropicError(message: string, type = "invalid_request_error") {
  return { type: "error", error: { type, message } };
}

/** The messages, the `system` prompt, and the input token count of a messages request. */
function conversation(json: Json): { messages: Message[]; inputTokens: number } {
  const messages = messagesOf(json.messages, ROLES, false);
  const system = json.system ?? "";
  if (typeof system !== "string" && !(Array.isArray(system) && system.every(isRecord))) {
    throw new DemoBadRequest("system: Input should be a string or a list of text blocks", "system");
  }
  return { messages, inputTokens: countWords([textOf(system), ...messages.map((m) => m.text)]) };
}

export function messages(json: Json, body: string, stream: boolean): Plan {
  const model = modelOf(json);
  const { messages, inputTokens } = conversation(json);
  const limit = limitOf(json, "max_tokens");
  if (limit === undefined) throw new DemoBadRequest("max_tokens: Field required", "max_tokens");
  const prompt = lastUser(messages);
  const a = answer(model, prompt, limit);
  const stop = a.truncated ? "max_tokens" : "end_turn";
  const message = (content: unknown[], stopReason: string | null, outputTokens: number) => ({
    id: demoId("msg_", body),
    type: "message",
    role: "assistant",
    model,
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage: {
      input_tokens: inputTokens,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      output_tokens: outputTokens,
    },
  });
  if (!stream) {
    return {
      prompt,
      reply: { status: 200, json: message([{ type: "text", text: a.text }], stop, a.tokens.length) },
    };
  }
  const event = (type: string, rest?: object) => encodeJsonEvent({ type, ...rest }, type);
  const events = [
    event("message_start", { message: message([], null, 1) }),
    event("content_block_start", { index: 0, content_block: { type: "text", text: "" } }),
    event("ping"),
    ...a.tokens.map((text) =>
      event("content_block_delta", { index: 0, delta: { type: "text_delta", text } }),
    ),
    event("content_block_stop", { index: 0 }),
    event("message_delta", {
      delta: { stop_reason: stop, stop_sequence: null },
      usage: { output_tokens: a.tokens.length },
    }),
    event("message_stop"),
  ];
  return { prompt, reply: { events, firstToken: 3 } };
}

/** `{"input_tokens": N}`, the same N a `messages` call with this body reports. */
export function countTokens(json: Json, stream: boolean): Plan {
  if (stream) throw new DemoBadRequest("stream: Extra inputs are not permitted", "stream");
  modelOf(json);
  const { messages, inputTokens } = conversation(json);
  return { prompt: lastUser(messages), reply: { status: 200, json: { input_tokens: inputTokens } } };
}
