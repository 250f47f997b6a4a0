import type { ProviderType } from '../../../shared/config/index.js';

/**
 * What a provider's API accepts as a model name. Gemini and Azure put the name into the URL path
 * (`/v1beta/models/<name>:generateContent`, `/openai/deployments/<name>/…`), so a name carrying `/`,
 * `..`, `?`, `:`, `#` or `%` could reach another endpoint with the server's key: those names are
 * refused here, and adapters encode what they put into a URL besides. OpenAI-type providers get the
 * name in the JSON body only (Ollama's `llama3.1:8b`, LiteLLM's `hf.co/org/model` stay valid).
 */
const PATH_SAFE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const AZURE_DEPLOYMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
// Printable ASCII: the name also goes back in the x-myca-model header, which carries no other.
const BODY_SAFE = /^[\x20-\x7e]{1,256}$/;

/** Null when `name` is a model name the provider's API allows; else why not, for a 400. */
export function modelNameProblem(type: ProviderType, name: string): string | null {
  if (type === 'gemini') {
    return PATH_SAFE.test(name) && !name.includes('..')
      ? null
      : 'Gemini model names are letters, digits, ".", "_" and "-" (e.g. gemini-2.0-flash), up to 128 characters';
  }
  if (type === 'anthropic') {
    // In the JSON body only, but Anthropic's names are all of this form (claude-sonnet-4-5-20250929).
    return PATH_SAFE.test(name) && !name.includes('..')
      ? null
      : 'Anthropic model names are letters, digits, ".", "_" and "-" (e.g. claude-sonnet-4-5), up to 128 characters';
  }
  if (type === 'azure') {
    return AZURE_DEPLOYMENT.test(name) && !name.includes('..')
      ? null
      : 'Azure deployment names are letters, digits, ".", "_" and "-", up to 64 characters';
  }
  return BODY_SAFE.test(name) ? null : 'model names are 1 to 256 printable ASCII characters';
}
