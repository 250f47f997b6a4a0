/**
 * Token estimates without a tokenizer: one for a chat prompt, one for an embeddings input. The plan
 * reads them to skip models whose context window the prompt cannot fit (plan.ts), the key gate to
 * reserve a request's worst case against its TPM and budget (governance.ts).
 */
import { type ChatRequest, type EmbeddingsRequest, RESPONSES_FORM, type Usage } from './contract.js';

/**
 * Characters a token. English averages about 4 in OpenAI's and Gemini's tokenizers, code, JSON and
 * most other languages run denser. 3 is the safer of the two for limits: a key's TPM and budget are
 * never passed by admitted reservations, only by a call whose real usage exceeds what it reserved,
 * so a lower guess lets more through and a higher one only holds a little more until the call
 * settles to its real usage. For context windows it errs the same way: a model may be skipped that
 * would just have fitted (a larger fallback serves), rather than tried and refused.
 */
export const CHARS_PER_TOKEN = 3;
/** Per message (role, separators) and for the reply's priming, as OpenAI's token counting guide counts them. */
const PER_MESSAGE = 4;
const PER_REPLY = 3;

const estimates = new WeakMap<ChatRequest, number>();

/**
 * The prompt's size in tokens: ⌈characters / {@link CHARS_PER_TOKEN}⌉ of every message's text
 * (string content, text parts, tool calls' names and arguments, tool results) and of the tools' JSON,
 * plus 4 tokens a message and 3 for the reply. Images and audio count nothing here (their data is
 * not their token count); the provider's usage settles what they cost, and its context-length error
 * is the backstop for windows. Worked out once per request (the plan asks once per candidate model).
 */
export function estimatePromptTokens(request: ChatRequest): number {
  const known = estimates.get(request);
  if (known !== undefined) return known;
  let chars = 0;
  for (const message of request.messages) {
    const content = message.content;
    if (typeof content === 'string') chars += content.length;
    else if (Array.isArray(content)) for (const part of content) if (typeof part.text === 'string') chars += (part.text as string).length;
    for (const call of message.tool_calls ?? []) chars += call.function.name.length + call.function.arguments.length;
  }
  if (request.tools?.length) chars += JSON.stringify(request.tools).length;
  // What only a Responses request's native form carries (its reasoning items) goes upstream too.
  for (const item of request[RESPONSES_FORM]?.input ?? []) {
    const reasoning = item as { type?: unknown; encrypted_content?: unknown; summary?: Array<{ text?: unknown }> };
    if (reasoning.type !== 'reasoning') continue;
    if (typeof reasoning.encrypted_content === 'string') chars += reasoning.encrypted_content.length;
    for (const part of reasoning.summary ?? []) if (typeof part.text === 'string') chars += part.text.length;
  }
  const estimate = Math.ceil(chars / CHARS_PER_TOKEN) + PER_MESSAGE * request.messages.length + PER_REPLY;
  estimates.set(request, estimate);
  return estimate;
}

/**
 * The input of `POST /v1/embeddings` in tokens: text at {@link CHARS_PER_TOKEN} characters a token
 * (at least one a string); token arrays count exactly, one token an integer.
 */
export function estimateInputTokens(input: EmbeddingsRequest['input']): number {
  if (typeof input === 'string') return Math.max(1, Math.ceil(input.length / CHARS_PER_TOKEN));
  let tokens = 0;
  for (const item of input as ReadonlyArray<string | number | number[]>) {
    if (typeof item === 'string') tokens += Math.max(1, Math.ceil(item.length / CHARS_PER_TOKEN));
    else if (typeof item === 'number') tokens += 1;
    else tokens += item.length;
  }
  return tokens;
}

const count = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.floor(value) : 0);

/**
 * A provider's usage as the gateway counts it: whole tokens, never negative (a negative count would
 * refund a key's budget), total at least prompt + completion. Undefined stays undefined.
 */
export function countedUsage(usage: Usage | null | undefined): Usage | undefined {
  if (!usage) return undefined;
  const prompt = count(usage.prompt_tokens);
  const completion = count(usage.completion_tokens);
  if (prompt === usage.prompt_tokens && completion === usage.completion_tokens && usage.total_tokens === prompt + completion) return usage;
  return {
    ...usage,
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: Math.max(count(usage.total_tokens), prompt + completion),
  };
}

/**
 * The usage of a stream whose provider never sent its own (the connection broke, the stream was cut,
 * or the client left before the usage chunk, which comes last): the prompt at its estimate and the
 * answer at ⌈characters / {@link CHARS_PER_TOKEN}⌉ of what was streamed, at most `maxOutput` for each
 * of its `n` answers when there is such a budget. Never free.
 */
export function streamedUsage(request: ChatRequest, answerChars: number, maxOutput: number): Usage {
  const prompt = estimatePromptTokens(request);
  const streamed = Math.ceil(Math.max(0, answerChars) / CHARS_PER_TOKEN);
  const answers = Math.max(1, Math.floor(Number(request.n ?? 1)) || 1);
  const completion = maxOutput > 0 ? Math.min(maxOutput * answers, streamed) : streamed;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}
