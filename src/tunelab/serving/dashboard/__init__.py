"""The web dashboard served at `/` by `tunelab serve`: server-rendered pages (Jinja2) with small scripts.

Pages (one module each under `pages/`, listed in `web.PAGES`): runs and run detail, new run, models,
playground, feedback review, assistant (chat tester, hand-off queue), monitor (charts, alerts), admin; plus
login. Pages reach the server's services (`Store`, `Predictions`, `ModelAdmin`, `Desk`, `MonitorHub`) through
`deps.services_of`, as the `/v1` routes do, never through the API's route modules. Static files (CSS,
scripts, the vendored Chart.js) are under `static/`.
"""

