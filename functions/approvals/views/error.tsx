import type { Principal } from '../../../shared/http/auth.js';
import { Layout } from './layout.js';
import { Notice, Visible } from './shared.js';

/** A page that only says what went wrong; the text can quote what the caller sent (an id), so it is shown through Visible. */
export function ErrorPage(props: { title: string; text: string; principal?: Principal | undefined; csrf?: string | undefined }) {
  return (
    <Layout title={props.title} {...(props.principal ? { principal: props.principal } : {})} {...(props.csrf ? { csrf: props.csrf } : {})}>
      <h1>{props.title}</h1>
      <Notice kind="error">
        <Visible text={props.text} />
      </Notice>
      <p>
        <a href="/approvals">Back to the inbox</a>
      </p>
    </Layout>
  );
}
