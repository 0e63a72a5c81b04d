/**
 * The page shell: navigation, the live status, the flash area where
 * actions report, the confirmation dialog, and the scripts (all served from
 * the package: htmx, uPlot on the overview, dashboard.js).
 */
import { raw } from 'hono/html';
import type { Child } from 'hono/jsx';
import { type AssetName, assetUrl } from './assets.js';
import { href, type View } from './context.js';

export type NavKey =
  | 'overview'
  | 'tasks'
  | 'failures'
  | 'queues'
  | 'task-types'
  | 'workers'
  | 'schedules'
  | 'log';

const NAV: [NavKey, string, string][] = [
  ['overview', '/', 'Overview'],
  ['tasks', '/tasks', 'Tasks'],
  ['failures', '/failures', 'Failures'],
  ['queues', '/queues', 'Queues'],
  ['task-types', '/task-types', 'Task types'],
  ['workers', '/workers', 'Workers'],
  ['schedules', '/schedules', 'Schedules'],
  ['log', '/log', 'Operator log'],
];

/**
 * htmx settings: no eval, no inline scripts, requests to this origin only,
 * no copies of pages in localStorage, attributes never inherited (each
 * element says what it does), and error responses swapped in (they are
 * readable messages, retargeted to the flash area).
 */
const HTMX_CONFIG = JSON.stringify({
  allowEval: false,
  allowScriptTags: false,
  selfRequestsOnly: true,
  includeIndicatorStyles: false,
  historyCacheSize: 0,
  disableInheritance: true,
  defaultSettleDelay: 0,
  responseHandling: [
    { code: '204', swap: false },
    { code: '[23]..', swap: true },
    { code: '[45]..', swap: true, error: true },
  ],
});

export function Layout(props: {
  view: View;
  title: string;
  nav: NavKey | null;
  charts?: boolean;
  /** No navigation or status (the login page: nothing there is reachable yet). */
  bare?: boolean;
  children: Child;
}) {
  const { view } = props;
  const asset = (name: AssetName) => assetUrl(view.base, name);
  return (
    <>
      {raw('<!doctype html>')}
      <html lang="en">
        <head>
          <meta charset="utf-8" />
          <meta name="viewport" content="width=device-width, initial-scale=1" />
          <meta name="color-scheme" content="light dark" />
          <meta name="htmx-config" content={HTMX_CONFIG} />
          <title>{`${props.title} · Tandem`}</title>
          <link rel="icon" href="data:," />
          <link rel="stylesheet" href={asset('dashboard.css')} />
          {props.charts && <link rel="stylesheet" href={asset('uplot.min.css')} />}
          <script src={asset('htmx.min.js')} defer />
          {props.charts && <script src={asset('uplot.min.js')} defer />}
          <script src={asset('dashboard.js')} defer />
        </head>
        <body>
          <a class="skip" href="#main">
            Skip to content
          </a>
          <header class="top">
            <a class="brand" href={href(view.base, '/')}>
              Tandem
            </a>
            {!props.bare && (
              <>
                <nav aria-label="Dashboard pages">
                  <ul>
                    {NAV.map(([key, path, label]) => (
                      <li>
                        <a
                          href={href(view.base, path)}
                          aria-current={props.nav === key ? 'page' : undefined}
                        >
                          {label}
                        </a>
                      </li>
                    ))}
                  </ul>
                </nav>
                <div class="session">
                  <span id="time-zone" class="muted" title="Hover over a time to see it in UTC">
                    times in UTC
                  </span>
                  <span id="live-status" class="muted">
                    live
                  </span>
                  {view.readOnly && <span class="tag tag-warn">read-only</span>}
                  {view.login && (
                    <form method="post" action={href(view.base, '/logout')}>
                      <button type="submit" class="link" title={`signed in as ${view.actor}`}>
                        Sign out
                      </button>
                    </form>
                  )}
                </div>
              </>
            )}
          </header>
          <main id="main" tabindex={-1}>
            <div id="flash" aria-live="polite" />
            {props.children}
          </main>
          <dialog id="confirm" aria-labelledby="confirm-title">
            <div id="confirm-body" />
          </dialog>
        </body>
      </html>
    </>
  );
}
