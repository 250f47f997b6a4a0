import { ActionError } from '../errors.js';

export const MAX_PATH = 512;
const MAX_NAME_BYTES = 255;

/**
 * Lexical checks on a path relative to the files root: no NUL, no absolute path, no backslash, and
 * no `..` segment in any encoding (percent-encoded, double-encoded, full-width). The file system
 * checks (real path inside the root, no symlink out) happen in the FilesPort when it runs.
 */
export function checkRelativePath(path: string): string {
  if (path.length === 0 || path.length > MAX_PATH) throw new ActionError(400, `the path must be 1-${MAX_PATH} characters`);
  let decoded = path;
  for (let i = 0; i < 3; i++) {
    try {
      const next = decodeURIComponent(decoded);
      if (next === decoded) break;
      decoded = next;
    } catch {
      break;
    }
  }
  const forms = [path, decoded, decoded.normalize('NFKC')];
  for (const form of forms) {
    if (form.includes('\0')) throw new ActionError(400, 'the path contains a NUL byte');
    if (form.includes('\\')) throw new ActionError(400, 'use / in paths, not \\');
    if (form.startsWith('/') || /^[A-Za-z]:/.test(form))
      throw new ActionError(400, 'the path must be relative to the files root', 'e.g. scratch/notes.txt');
    if (form.split('/').some((segment) => segment === '..'))
      throw new ActionError(403, 'the path leaves the files root', 'paths may not contain ..');
  }
  const segments = path.split('/').filter((segment) => segment !== '' && segment !== '.');
  // File systems refuse names over 255 bytes (ENAMETOOLONG): say so before anything runs.
  if (segments.some((segment) => new TextEncoder().encode(segment).byteLength > MAX_NAME_BYTES))
    throw new ActionError(400, `a name in the path is longer than ${MAX_NAME_BYTES} bytes`);
  const clean = segments.join('/');
  if (!clean) throw new ActionError(400, 'the path names the root itself');
  return clean;
}
