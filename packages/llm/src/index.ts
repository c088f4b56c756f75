// Public surface of @kvasir/llm: tokenizer and model files, chat templates, incremental detokenization,
// OpenAI/Anthropic request validation, and reasoning/tool-call output parsing.

export {
  type AnthropicContentBlock,
  type AnthropicErrorBody,
  type AnthropicMessage,
  type AnthropicTool,
  type AnthropicToolChoice,
  anthropicError,
  type ChatToolFields,
  type CountTokensRequest,
  type MessagesRequest,
  stripBillingPreamble,
  toChatToolFields,
  validateCountTokensRequest,
  validateMessagesRequest,
} from "./anthropic.js";
export {
  type ChatContentPart,
  ChatTemplate,
  ChatTemplateError,
  type ChatTemplateInput,
  type ChatTemplateMessage,
  type ContentFormat,
} from "./chat-template.js";
export {
  Detokenizer,
  type DetokenizerFinishReason,
  type DetokenizerOptions,
  type DetokenizerOutput,
} from "./detokenizer.js";
export type { TokenDecoder } from "./incremental-decoder.js";
export {
  DEFAULT_MODEL_NAME,
  defaultModelDir,
  defaultModelSource,
  loadModelFiles,
  loadTokenizer,
  type ModelSource,
} from "./model-loader.js";
export type { Nvext } from "./nvext.js";
export {
  type ChatCompletionMessage,
  type ChatCompletionRequest,
  type ChatCompletionTool,
  type ChatCompletionToolChoice,
  type CompletionRequest,
  type DetokenizeRequest,
  type EmbeddingRequest,
  type OpenAIErrorBody,
  openAIError,
  type TokenizeRequest,
  validateChatCompletionRequest,
  validateCompletionRequest,
  validateDetokenizeRequest,
  validateEmbeddingRequest,
  validateTokenizeRequest,
} from "./openai.js";
export {
  type ChatOutputDelta,
  ChatOutputParser,
  type ChatOutputParserOptions,
  createToolCallParser,
  parsersNeedSpecialTokens,
  REASONING_PARSERS,
  type ReasoningParserName,
  TOOL_CALL_PARSERS,
  type ToolCallParserName,
} from "./output-parser.js";
export {
  promptOpensReasoning,
  type ReasoningDelta,
  ReasoningParser,
  type ReasoningParserOptions,
} from "./reasoning-parser.js";
export {
  type ResponsesInputItem,
  type ResponsesKnownItem,
  type ResponsesRequest,
  type ResponsesTool,
  type ResponsesToolChoice,
  validateResponsesRequest,
} from "./responses.js";
export {
  createTokenizer,
  type DecodeOptions,
  type EncodeOptions,
  type ModelFiles,
  type SpecialTokenStrings,
  type Tokenizer,
} from "./tokenizer.js";
export {
  type ToolCall,
  type ToolCallDelta,
  ToolCallParser,
  type ToolCallParserOptions,
  type ToolCallStreamParser,
} from "./tool-call-parser.js";
export type { ValidationResult } from "./validation.js";
