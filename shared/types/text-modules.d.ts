/** YAML files bundled as text by wrangler (see [[rules]] in wrangler.toml). */
declare module '*.yaml' {
  const text: string;
  export default text;
}
