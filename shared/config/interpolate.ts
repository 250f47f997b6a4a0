/**
 * `${VAR}` and `${VAR:-default}` interpolation over a parsed YAML tree.
 *
 * It works on values after parsing (not on the raw text), so an env value can never inject YAML
 * structure. It records which variables fed each path, so a validation error can name the variable
 * the operator has to fix, not only the YAML key.
 */

export type EnvSource = Readonly<Record<string, string | undefined>>;

const EXPRESSION = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
const WHOLE_EXPRESSION = /^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}$/;

export interface Interpolated {
  value: unknown;
  /** Dotted path → names of the env variables used there. */
  sources: Map<string, string[]>;
}

/** Replaces every `${VAR}` / `${VAR:-default}` in string leaves of `tree`. */
export function interpolate(tree: unknown, env: EnvSource): Interpolated {
  const sources = new Map<string, string[]>();
  const value = walk(tree, env, '', sources);
  return { value, sources };
}

function walk(node: unknown, env: EnvSource, path: string, sources: Map<string, string[]>): unknown {
  if (typeof node === 'string') return resolveString(node, env, path, sources);
  if (Array.isArray(node)) return node.map((item, index) => walk(item, env, join(path, String(index)), sources));
  if (node !== null && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(node)) {
      const resolved = walk(item, env, join(path, key), sources);
      if (resolved !== undefined) out[key] = resolved;
    }
    return out;
  }
  return node;
}

function resolveString(text: string, env: EnvSource, path: string, sources: Map<string, string[]>): string | undefined {
  const used: string[] = [];
  const whole = WHOLE_EXPRESSION.exec(text);
  let out: string | undefined;
  if (whole) {
    // A value that is only `${VAR}` becomes undefined when VAR is unset or empty and has no default,
    // so optional settings stay optional instead of turning into "".
    const [, name = '', fallback] = whole;
    used.push(name);
    const fromEnv = env[name];
    out = fromEnv !== undefined && fromEnv !== '' ? fromEnv : fallback;
  } else {
    out = text.replace(EXPRESSION, (_match, name: string, fallback: string | undefined) => {
      used.push(name);
      const fromEnv = env[name];
      return fromEnv !== undefined && fromEnv !== '' ? fromEnv : (fallback ?? '');
    });
  }
  if (used.length > 0) sources.set(path, used);
  return out;
}

const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);
