# syntax=docker/dockerfile:1
# MYCA Edge, Node server. Three stages: production dependencies, a build with everything (the
# bundle of our TypeScript), and a small runtime that runs the bundle as the unprivileged `node` user.
# Node 24: a chat request costs about half the CPU it costs on Node 20 (its AsyncLocalStorage no longer
# runs a hook on every promise; docs/DEPLOY.md). CI runs the whole test suite on this version too.
ARG NODE_VERSION=24.22.3

FROM node:${NODE_VERSION}-bookworm-slim AS base
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

# Production dependencies only. patches/ fixes a postgres.js crash on cut connections (postinstall).
FROM base AS deps
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --omit=dev && npm cache clean --force

# Everything, to bundle functions/ and shared/ into dist/node/main.js (dependencies stay external).
FROM base AS build
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci
COPY tsconfig.base.json tsconfig.json ./
COPY functions ./functions
COPY shared ./shared
RUN npm run build:node

FROM base AS runtime
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 MYCA_DATA_DIR=/data
# V8 sizes its young generation from the memory it sees: in a 512 MB container it picks one so small
# that a chat request costs 2.5x the CPU (0.40 vs 0.15 ms, Node 24); on a large host one so big that
# the process peaks ~90 MB higher. 8 MB semi-spaces are right in both (docs/DEPLOY.md). bench:chat and
# bench:actions run the server with this line's value.
ENV NODE_OPTIONS=--max-semi-space-size=8
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/node ./dist/node
COPY package.json ./
COPY config ./config
COPY migrations ./migrations
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080
VOLUME ["/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "--enable-source-maps", "dist/node/main.js"]
