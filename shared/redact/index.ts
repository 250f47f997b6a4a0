/**
 * The one redactor of MYCA Edge: logs, traces, audit rows and the approvals page all go through it,
 * so a secret missed here is missed everywhere and a fix here mends everywhere.
 *
 * Two nets: by key name (a field called `authorization`, `api_key`, `password`, … is masked whatever
 * it holds) and by value pattern (provider keys, bearer tokens, JWTs, private keys, credentials in
 * URLs are masked wherever they appear, even inside free text).
 */

export const REDACTED = '***';

/** Key names whose values are always secret (compared lower-case, `-` and `_` ignored). */
const SECRET_KEY_PARTS = [
  'authorization',
  'apikey',
  'token',
  'password',
  'passwd',
  'secret',
  'cookie',
  'privatekey',
  'credential',
  'credentials',
  'sessionid',
  'clientsecret',
  'accesskey',
  'signature',
  'passphrase',
];

/** Exact key names that look harmless but are secret, or look secret but are not. */
const NOT_SECRET_KEYS = new Set(['tokens', 'maxtokens', 'tokenusage', 'prompttokens', 'completiontokens', 'totaltokens']);

const normalizeKey = (key: string): string => key.toLowerCase().replace(/[-_\s.]/g, '');

/** Field names repeat (every log line has the same dozen): their verdicts are kept, up to a bound. */
const verdicts = new Map<string, boolean>();
const MAX_VERDICTS = 4096;

/** True when a field of this name must never be shown. */
export function isSecretKey(key: string): boolean {
  let verdict = verdicts.get(key);
  if (verdict === undefined) {
    verdict = judgeKey(key);
    if (verdicts.size >= MAX_VERDICTS) verdicts.clear();
    verdicts.set(key, verdict);
  }
  return verdict;
}

/**
 * Last words that make a name secret (`x-auth-key`, `Ocp-Apim-Subscription-Key`, `subscriptionKey`,
 * `x-vault-token`, `webhook_secret`, `x-hub-signature`, `x-session`, `pwd`) — as a whole word, so
 * `monkey`, `keyboard` and `max_tokens` stay readable.
 */
const SECRET_LAST_WORDS = new Set(['key', 'token', 'secret', 'signature', 'sig', 'session', 'pwd', 'pass', 'pin']);
/** Names ending in such a word that are identifiers, not secrets. */
const NOT_SECRET_FIRST_WORDS = new Set(['idempotency', 'cache', 'sort', 'partition', 'primary', 'foreign', 'public', 'route', 'dedupe']);

function judgeKey(key: string): boolean {
  const words = key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[-_.\s]+/)
    .filter(Boolean);
  const last = words.at(-1);
  if (last && SECRET_LAST_WORDS.has(last) && !(words.length > 1 && NOT_SECRET_FIRST_WORDS.has(words.at(-2) ?? ''))) return true;
  const k = normalizeKey(key);
  // Token counts (prompt_tokens, prompt_tokens_details, …) are usage, not credentials.
  if (NOT_SECRET_KEYS.has(k) || k.includes('tokens')) return false;
  // A secret word at either end of the name (`api_key`, `x-api-key`, `upstash_token`, `password_hash`),
  // not in the middle (`first_token_timeout_ms` is a setting, not a token).
  // Auth-like names (`x-auth`, `proxy_auth`, `oauth`) end in "auth"; `author` does not.
  return k.endsWith('auth') || SECRET_KEY_PARTS.some((part) => k.startsWith(part) || k.endsWith(part));
}

/**
 * Value patterns, applied to every string. Each replaces only the secret part so that the text
 * around it stays readable ("Bearer ***", "postgres://user:***@host").
 */
const VALUE_PATTERNS: ReadonlyArray<[RegExp, string]> = [
  // PEM and PGP private keys (multi-line); one cut short (no END line) is masked to the end of the text.
  [
    /-----BEGIN [A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:[^-]|-(?!----END ))*(?:-----END [A-Z ]{0,40}PRIVATE KEY(?: BLOCK)?-----)?/g,
    REDACTED,
  ],
  // JWTs: three base64url parts, the first starting with a JSON header.
  [/\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/g, REDACTED],
  // Bearer / Basic / Token credentials in free text.
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi, `$1 ${REDACTED}`],
  // `Token …` (Django REST, GitHub): only a word with a digit, so prose ("token verification") stays.
  [/\b(Token)\s+(?=[A-Za-z._~+/=-]*[0-9])[A-Za-z0-9._~+/=-]{8,}/gi, `$1 ${REDACTED}`],
  // Digest credentials: everything after the scheme word up to the end of the line.
  [/\b(Digest)\s+(?=[A-Za-z]+=)[^\r\n]*/g, `$1 ${REDACTED}`],
  // Keys made through POST /v1/keys: myca_vk_ then 32 bytes of base64url (before the sk- pattern:
  // base64url may hold "-sk-", and the key must go whole).
  [/\bmyca_vk_[A-Za-z0-9_-]{16,}/g, REDACTED],
  // OpenAI / Anthropic style keys (sk-..., sk-proj-..., sk-ant-...), MYCA keys (myca_...).
  [/\b(sk|pk|rk)-[A-Za-z0-9_-]{16,}/g, REDACTED],
  [/\bmyca_[A-Za-z0-9]{16,}/g, REDACTED],
  // Google API keys.
  [/\bAIza[0-9A-Za-z_-]{30,}/g, REDACTED],
  // AWS access key ids.
  [/\b(AKIA|ASIA)[0-9A-Z]{16}\b/g, REDACTED],
  // AWS secret access keys next to their name, in any spelling (`aws_secret_access_key = …`).
  [/\b(aws_?secret_?access_?key|secret_?access_?key)(["']?\s*[:=]\s*["']?)[A-Za-z0-9/+=]{30,}/gi, `$1$2${REDACTED}`],
  // GitHub (classic and fine-grained), GitLab, SendGrid, Slack, Stripe tokens.
  [/\bgh[pousr]_[A-Za-z0-9]{30,}/g, REDACTED],
  [/\bgithub_pat_[A-Za-z0-9_]{30,}/g, REDACTED],
  [/\bglpat-[A-Za-z0-9_-]{20,}/g, REDACTED],
  [/\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}/g, REDACTED],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}/g, REDACTED],
  [/\b(sk|rk)_(live|test)_[A-Za-z0-9]{16,}/g, REDACTED],
  // Credentials inside URLs: scheme://user:password@host
  // (The scheme starts a word and is short: a long run of letters is not tried at every position.)
  [/((?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,31}:\/\/[^:/?#\s@]*:)[^@/\s]+@/gi, `$1${REDACTED}@`],
  // key=value pairs in query strings or free text.
  [/\b(api[_-]?key|access[_-]?token|token|password|passwd|pwd|pass|secret|sig|signature)=([^&\s"']+)/gi, `$1=${REDACTED}`],
];

/** A word one of the named-secret patterns below needs (`"password":"…"`, `OPENAI_API_KEY=…`, `x-auth: …`). */
const MAY_NAME_SECRET = /auth|key|token|pass|pwd|pin|sig|secret|cookie|credential|session/i;

/**
 * Secrets written as a name and a value inside text: JSON members in a string (`"password":"…"`),
 * `KEY=value` env lines and query parameters, `Name: value` header lines. The value is masked when
 * the name is one {@link isSecretKey} masks as a field.
 */
const NAMED_PATTERNS: ReadonlyArray<[RegExp, (match: string, ...groups: string[]) => string]> = [
  [
    // A JSON string holds no raw line break: a "value" running over lines is not one (and masking it
    // would hide whole lines of a file from the person approving its write).
    /"([^"\\\n]{1,64})"(\s*:\s*)"((?:[^"\\\n]|\\.)*)"/g,
    (match, name = '', colon = '', value = '') => (value && isSecretKey(name) ? `"${name}"${colon}"${REDACTED}"` : match),
  ],
  // Single-quoted members (Python reprs, JS literals): {'password': '…'}.
  [
    /'([^'\\\n]{1,64})'(\s*:\s*)'((?:[^'\\\n]|\\.)*)'/g,
    (match, name = '', colon = '', value = '') => (value && isSecretKey(name) ? `'${name}'${colon}'${REDACTED}'` : match),
  ],
  [
    /(?<![A-Za-z0-9_.-])([A-Za-z_][A-Za-z0-9_.-]{0,63})([ \t]*[=:][ \t]*)("[^"\n]*"|'[^'\n]*'|[^\s&"',;]+)/g,
    (match, name = '', sep = '', value = '') =>
      // `Authorization: Bearer …` keeps its scheme word; the token after it is the Bearer pattern's.
      isSecretKey(name) && value !== REDACTED && !/^(Bearer|Basic|Token|Digest)$/i.test(value) ? `${name}${sep}${REDACTED}` : match,
  ],
];

/**
 * One cheap test that every value pattern needs to pass: most strings (paths, routes, ids, prose)
 * fail it, and skip the dozen patterns. Keep it in step with VALUE_PATTERNS (the tests hold it).
 */
const MAY_HOLD_SECRET =
  /PRIVATE KEY|eyJ|Bearer|Basic|Token|Digest|sk-|pk-|rk-|myca_|AIza|AKIA|ASIA|gh[pousr]_|github_pat_|glpat-|SG\.|xox|_live_|_test_|secret_?access|:\/\/[^\s]*@|=/i;

/** Masks every secret-looking part of a string. */
export function redactString(value: string): string {
  if (value.length < 8) return value;
  let out = value;
  if (MAY_HOLD_SECRET.test(value)) for (const [pattern, replacement] of VALUE_PATTERNS) out = out.replace(pattern, replacement);
  if (MAY_NAME_SECRET.test(out)) for (const [pattern, replace] of NAMED_PATTERNS) out = out.replace(pattern, replace);
  return out;
}

const MAX_DEPTH = 32;

/**
 * Returns a deep copy of `value` with secrets masked. Never mutates its input; cycles and depth
 * beyond 32 are cut, so any value can be passed safely.
 *
 * @example
 * redact({ headers: { authorization: 'Bearer abc' }, note: 'key sk-abc…' })
 * // → { headers: { authorization: '***' }, note: 'key ***' }
 */
export function redact<T>(value: T): T {
  return redactValue(value, 0, new WeakSet()) as T;
}

function redactValue(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactString(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[depth]';
  if (seen.has(value)) return '[cycle]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => redactValue(item, depth + 1, seen));
  if (value instanceof Error) {
    return { name: value.name, message: redactString(value.message) };
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[key] = isSecretKey(key) && item !== undefined && item !== null && item !== '' ? REDACTED : redactValue(item, depth + 1, seen);
  }
  return out;
}
