/**
 * Sign in with the API token (the dashboard's only secret), and sign out.
 * A wrong token is a 401 with the form again; the right one opens a
 * session (see ../session.ts) and goes back to the page that asked.
 */
import type { Api } from '../../routes/types.js';
import { matchToken } from '../../security.js';
import { Alert } from '../components/alert.js';
import { type DashboardDeps, type DashContext, href, htmlResponse, viewOf } from '../context.js';
import { Layout } from '../layout.js';
import { one, readForm } from '../query.js';
import { endSession, startSession } from '../session.js';

/** A place inside the dashboard to return to, or the overview: never another site. */
function safeNext(deps: DashboardDeps, next: string | undefined): string {
  const home = href(deps.base, '/');
  if (next === undefined || next.length > 2000) return home;
  if (!/^\/(?![/\\])/.test(next)) return home;
  if (
    deps.base &&
    next !== deps.base &&
    !next.startsWith(`${deps.base}/`) &&
    !next.startsWith(`${deps.base}?`)
  )
    return home;
  return next;
}

function LoginPage(props: { c: DashContext; deps: DashboardDeps; next: string; failed: boolean }) {
  const view = viewOf(props.c, props.deps);
  view.login = false;
  return (
    <Layout view={view} title="Sign in" nav={null} bare>
      <section class="login" aria-labelledby="login-title">
        <h1 id="login-title">Sign in to Tandem</h1>
        {props.failed && (
          <Alert tone="error" title="Not signed in:">
            that token is not valid. Use the server's TANDEM_API_TOKEN (or the first line of its
            --token-file).
          </Alert>
        )}
        <form method="post" action={href(props.deps.base, '/login')}>
          <input type="hidden" name="next" value={props.next} />
          <div class="field">
            <label for="token">API token</label>
            <input
              id="token"
              name="token"
              type="password"
              autocomplete="current-password"
              required
              autofocus
              aria-describedby="token-hint"
              {...(props.failed && { 'aria-invalid': 'true' })}
            />
            <small id="token-hint" class="muted">
              The token the server was started with. It is sent once; the browser keeps a session
              cookie for 12 hours.
            </small>
          </div>
          <div class="actions">
            <button type="submit" class="primary">
              Sign in
            </button>
          </div>
        </form>
      </section>
    </Layout>
  );
}

export function loginRoutes(app: Api, deps: DashboardDeps): void {
  app.get('/login', (c) => {
    if (deps.tokens.size === 0) return c.redirect(href(deps.base, '/'), 303);
    const next = safeNext(deps, c.req.query('next'));
    if (c.get('actor')) return c.redirect(next, 303);
    return htmlResponse(c, <LoginPage c={c} deps={deps} next={next} failed={false} />);
  });

  app.post('/login', async (c) => {
    if (deps.tokens.size === 0) return c.redirect(href(deps.base, '/'), 303);
    const form = await readForm(c);
    const next = safeNext(deps, one(form, 'next'));
    const token = one(form, 'token');
    const label = token === undefined ? null : await matchToken(deps.tokens, token);
    if (label === null)
      return htmlResponse(c, <LoginPage c={c} deps={deps} next={next} failed />, 401);
    await startSession(c, deps, label);
    return c.redirect(next, 303);
  });

  app.post('/logout', (c) => {
    endSession(c, deps);
    return c.redirect(deps.tokens.size > 0 ? href(deps.base, '/login') : href(deps.base, '/'), 303);
  });
}
