/** Test support: a chat stream read with the real OpenAI SDK, as a client reads it. */
import OpenAI, { type ClientOptions } from "openai";

/** The contents the SDK hands over, chunk by chunk, and the error it raised at the end (null: none). */
export async function openaiChatStream(
  client: ClientOptions,
  model = "m",
  content = "hi",
): Promise<{ texts: string[]; error: unknown }> {
  const stream = await new OpenAI({ maxRetries: 0, ...client }).chat.completions.create({
    model,
    messages: [{ role: "user", content }],
    stream: true,
  });
  const texts: string[] = [];
  try {
    for await (const c of stream) texts.push(c.choices[0]?.delta.content ?? "");
  } catch (error) {
    return { texts, error };
  }
  return { texts, error: null };
}
