# Clearance gateway image. better-sqlite3 builds from source (no prebuilt download), so the build
# stage has a compiler; the runtime stage has only Node and the built app.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY console/package.json ./console/
RUN npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bench ./bench
# The admin console (console/, a workspace) is bundled by Vite into dist/console.
COPY console ./console
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY examples ./examples
RUN useradd --system --uid 10001 clearance && mkdir -p -m 700 /data && chown clearance /data
USER clearance
VOLUME ["/data"]
EXPOSE 8080
# The config names the scheme, providers and store; secrets come from the environment.
ENTRYPOINT ["node", "dist/src/cli/main.js"]
CMD ["serve", "--config", "/etc/clearance/clearance.yaml", "--host", "0.0.0.0", "--data-dir", "/data"]
