import { Layout } from './layout.js';
import { Notice } from './shared.js';

export function LoginPage({ error }: { error?: string }) {
  return (
    <Layout title="Sign in">
      <section class="login">
        <h1>Sign in</h1>
        <p>Approvers sign in with their API key or JWT. Agent keys cannot sign in here.</p>
        {error ? <Notice kind="error">{error}</Notice> : null}
        <form method="post" action="/approvals/login">
          <label for="credential">Approver key or JWT</label>
          <input id="credential" name="credential" type="password" autocomplete="off" required />
          <button type="submit">Sign in</button>
        </form>
      </section>
    </Layout>
  );
}
