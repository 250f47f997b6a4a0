import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import type { Principal } from '../../../shared/http/auth.js';

/** The sections of the navigation (spend for admins only); a list page names its own, which is marked as the current page. */
export type Section = 'inbox' | 'runs' | 'history' | 'spend';

export function Layout(props: { title: string; principal?: Principal; csrf?: string; section?: Section; children: Child }) {
  const current = (section: Section) => (props.section === section ? 'page' : undefined);
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
                  <a href="/approvals" aria-current={current('inbox')}>
                    Inbox
                  </a>
                  <a href="/approvals/runs" aria-current={current('runs')}>
                    Agent runs
                  </a>
                  <a href="/approvals/history" aria-current={current('history')}>
                    History
                  </a>
                  {props.principal.role === 'admin' ? (
                    <a href="/approvals/spend" aria-current={current('spend')}>
                      Spend
                    </a>
                  ) : null}
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
