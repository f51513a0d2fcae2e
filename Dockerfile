# The amoskys image of compose.yaml: one binary for every role (agent, detect, api).
# Build: docker build -t amoskys/amoskys:dev .   (no engine runs on the development machines;
# compose.yaml is checked with `docker compose config` only).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/amoskys ./cmd/amoskys

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/amoskys /usr/local/bin/amoskys
COPY pipelines /etc/amoskys/pipelines
COPY rules /etc/amoskys/rules
COPY compose /etc/amoskys/compose
WORKDIR /etc/amoskys
# libchdb is not in the image: the compose roles use a ClickHouse server (clickhouse://) instead.
ENTRYPOINT ["amoskys"]
CMD ["run", "-c", "/etc/amoskys/compose/detect.yaml"]
