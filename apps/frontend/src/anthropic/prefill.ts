/**
 * The rendered conversation cut right after the final assistant message's text, so the model continues that text
 * (Anthropic's prefill; vLLM's `continue_final_message`) instead of starting a new turn after the template closed
 * it. Templates may trim leading newlines, so the text is found without them. Undefined when the template does
 * not render the text verbatim.
 */
export function continueFinalMessage(rendered: string, finalText: string): string | undefined {
  const text = finalText.trimStart();
  if (text === "") return undefined;
  const at = rendered.lastIndexOf(text);
  return at < 0 ? undefined : rendered.slice(0, at + text.length);
}
