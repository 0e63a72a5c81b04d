# Tandem worker image: `tandem worker --tasks <module>` by default.
# Build:  docker build -t tandem .
# Run:    docker run --rm -e DATABASE_URL=postgres://... tandem worker --tasks examples/shop/tasks.ts
FROM node:20-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

# Dependencies first, so source edits do not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY bin ./bin
COPY sql ./sql
COPY src ./src
COPY examples ./examples
COPY tsconfig.json ./

# Run as the image's unprivileged user.
USER node
ENTRYPOINT ["node", "bin/tandem.js"]
CMD ["worker", "--tasks", "examples/shop/tasks.ts"]
