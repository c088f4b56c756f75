# syntax=docker/dockerfile:1
# Kvasir images. The default target, `kvasir`, holds every app behind the `kvasir` entry point
# (`docker run kvasir frontend ...`); `--target app --build-arg APP=<app>` makes an image of one app's folder
# (node main.mjs, the app's flags only); `kvasir-criu` adds CRIU for the snapshot agent; `worker-vllm` and
# `worker-sglang` put `kvasir` beside a GPU engine in that engine's own image. Every app folder comes from scripts/build-apps.mjs:
# a bundle run by plain `node`, plus only the packages that cannot be bundled (docs/deploy.md).
ARG NODE_IMAGE=node:20-bookworm-slim
ARG VLLM_IMAGE=vllm/vllm-openai:v0.11.0
ARG SGLANG_IMAGE=lmsysorg/sglang:v0.5.3-cu129

# ---- build: the workspace (its install compiles the native addon), then one folder per app
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
  && rm -rf /var/lib/apt/lists/*
RUN npm install -g pnpm@10.34.9
WORKDIR /src
# Dependencies first, so a source change does not download them again.
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch
COPY . .
RUN pnpm install --offline --frozen-lockfile \
  && node scripts/build-apps.mjs

# ---- runtime base: Node only, a non-root user, the status server on 9090 for the health check
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    DYN_SYSTEM_PORT=9090
# Every app serves /live on --system-port (DYN_SYSTEM_PORT); the mocker, an engine stand-in, has /health on its
# HTTP port instead (compose overrides its check).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.DYN_SYSTEM_PORT||9090)+'/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
WORKDIR /opt/kvasir

# ---- one app: docker build --target app --build-arg APP=router -t kvasir-router .
FROM runtime AS app
ARG APP=frontend
COPY --from=build --chown=root:root /src/dist/apps/${APP}/ /opt/kvasir/
USER node
ENTRYPOINT ["node", "/opt/kvasir/main.mjs"]

# ---- the snapshot agent needs CRIU and runs privileged as root (deploy/k8s/base/snapshot-agent)
FROM runtime AS kvasir-criu
RUN apt-get update \
  && apt-get install -y --no-install-recommends criu \
  && rm -rf /var/lib/apt/lists/*
COPY --from=build --chown=root:root /src/dist/apps/kvasir/ /opt/kvasir/
RUN ln -s /opt/kvasir/main.mjs /usr/local/bin/kvasir
ENTRYPOINT ["kvasir"]

# ---- GPU workers: the engine's image with Node and `kvasir` (the whole CLI: 4 MB more than the worker's folder,
# nothing beside a 10 GB engine image, and the same entry point as every other image); the worker starts the
# engine from --engine-command (kvasir worker --backend vllm --engine-command "vllm serve ...")
FROM ${VLLM_IMAGE} AS worker-vllm
COPY --from=runtime /usr/local/bin/node /usr/local/bin/node
COPY --from=build --chown=root:root /src/dist/apps/kvasir/ /opt/kvasir/
RUN ln -s /opt/kvasir/main.mjs /usr/local/bin/kvasir && (useradd --create-home --uid 1000 kvasir || true)
ENV DYN_SYSTEM_PORT=9090
USER 1000
ENTRYPOINT ["kvasir"]

FROM ${SGLANG_IMAGE} AS worker-sglang
COPY --from=runtime /usr/local/bin/node /usr/local/bin/node
COPY --from=build --chown=root:root /src/dist/apps/kvasir/ /opt/kvasir/
RUN ln -s /opt/kvasir/main.mjs /usr/local/bin/kvasir && (useradd --create-home --uid 1000 kvasir || true)
ENV DYN_SYSTEM_PORT=9090
USER 1000
ENTRYPOINT ["kvasir"]

# ---- default: every app behind `kvasir <command>` (40 MB of app files against 7–36 MB for one app; docs/deploy.md)
FROM runtime AS kvasir
COPY --from=build --chown=root:root /src/dist/apps/kvasir/ /opt/kvasir/
RUN ln -s /opt/kvasir/main.mjs /usr/local/bin/kvasir
USER node
ENTRYPOINT ["kvasir"]
CMD ["serve", "--help"]
