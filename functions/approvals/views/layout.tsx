import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import type { Principal } from '../../../shared/http/auth.js';

export function Layout(props: { title: string; principal?: Principal; csrf?: string; children: Child }) {
  // The doctype keeps browsers in standards mode (without it the layout rules are the quirks ones).
  return (
    <>
      {raw('<!DOCTYPE html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <title>{props.title} · MYCA approvals</title>
          <link rel="stylesheet" href="/approvals/assets/app.css" />
          <script src="/approvals/assets/app.js" defer />
        </head>
        <body>
          <header class="top">
            <strong>MYCA approvals</strong>
            {props.principal ? (
              <>
                <nav aria-label="Sections">
                  <a href="/approvals">Inbox</a>
                  <a href="/approvals/runs">Agent runs</a>
                  <a href="/approvals/history">History</a>
                </nav>
                <span class="muted">
                  Signed in as <strong>{props.principal.id}</strong> ({props.principal.role})
                </span>
                <form method="post" action="/approvals/logout">
                  <input type="hidden" name="csrf" value={props.csrf ?? ''} />
                  <button type="submit">Sign out</button>
                </form>
              </>
            ) : null}
          </header>
          <main>{props.children}</main>
        </body>
      </html>
    </>
  );
}
