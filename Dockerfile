# Images for poolpilot and for the demo backend (examples/backend), from one build stage.
#
#   docker build -t poolpilot .                          # the control plane (last stage)
#   docker build -t poolpilot-backend --target backend .  # the demo backend
#
# Both binaries are static (CGO_ENABLED=0) and run as the distroless "nonroot" user
# (65532) on an image without a shell or package manager.

# The official golang images set GOTOOLCHAIN=local: the tag must be at least go.mod's
# "go" line (e2e/compose checks it), or the build stops instead of fetching a toolchain.
FROM golang:1.26.8 AS build
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# -trimpath keeps build paths out of the binaries; -s -w drops symbols for a smaller image.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/poolpilot ./cmd/poolpilot \
 && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/backend ./examples/backend

FROM gcr.io/distroless/static-debian12:nonroot AS backend
COPY --from=build /out/backend /usr/local/bin/backend
USER nonroot:nonroot
# HTTP, gRPC, admin switches.
EXPOSE 8080 8081 8082
ENTRYPOINT ["/usr/local/bin/backend"]

FROM gcr.io/distroless/static-debian12:nonroot AS poolpilot
COPY --from=build /out/poolpilot /usr/local/bin/poolpilot
USER nonroot:nonroot
# xDS (gRPC, ADS), admin (status page, metrics).
EXPOSE 18000 19000
ENTRYPOINT ["/usr/local/bin/poolpilot"]
CMD ["serve", "--model", "/model", "--xds-address", "0.0.0.0:18000", "--admin-address", "0.0.0.0:19000"]
