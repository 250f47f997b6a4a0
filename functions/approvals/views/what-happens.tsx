import { clip, PREVIEW, Pre, str, Visible } from './shared.js';
import type { ActionRow } from './types.js';

/** The (redacted) input, rendered as what will happen; `contentBytes`: the exact content's size, when known. */
export function WhatHappens({ row, querySql, contentBytes }: { row: ActionRow; querySql?: string; contentBytes?: number }) {
  const input = row.inputs;
  const content = str(input.content ?? input.body);
  const preview = clip(content, PREVIEW, '…');
  switch (row.action_type) {
    case 'file.write':
      return (
        <>
          <p>
            Write <strong>{contentBytes ?? new TextEncoder().encode(content).byteLength} bytes</strong> to{' '}
            <code>
              <Visible text={str(input.path)} />
            </code>{' '}
            (created or replaced):
          </p>
          <Pre>
            <Visible text={preview} />
          </Pre>
        </>
      );
    case 'file.delete':
    case 'file.read':
      return (
        <p>
          {row.action_type === 'file.delete' ? 'Delete' : 'Read'} the file{' '}
          <code>
            <Visible text={str(input.path)} />
          </code>
        </p>
      );
    case 'http.request': {
      const headers = (input.headers ?? {}) as Record<string, unknown>;
      return (
        <>
          <p>
            <strong>{str(input.method ?? 'GET')}</strong>{' '}
            <code>
              <Visible text={str(input.url)} />
            </code>
          </p>
          {Object.keys(headers).length > 0 ? (
            <table>
              <caption class="muted">Headers</caption>
              <tbody>
                {Object.entries(headers).map(([name, value]) => (
                  <tr>
                    <th scope="row">
                      <Visible text={name} />
                    </th>
                    <td class="mono">
                      <Visible text={str(value)} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          {content ? (
            <Pre>
              <Visible text={preview} />
            </Pre>
          ) : null}
        </>
      );
    }
    case 'db.query':
      return (
        <>
          <p>
            Run the named query <code>{str(input.query)}</code> with parameters:
          </p>
          <Pre>
            <Visible text={JSON.stringify(input.params ?? [], null, 2)} />
          </Pre>
          {querySql ? (
            <details>
              <summary>Its SQL (from policy.yaml)</summary>
              <Pre>{querySql}</Pre>
            </details>
          ) : null}
        </>
      );
    default:
      return (
        <Pre>
          <Visible text={JSON.stringify(input, null, 2)} />
        </Pre>
      );
  }
}
