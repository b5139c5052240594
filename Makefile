# serverless-operator: every day-to-day task is a target here. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO    ?= cargo
OPERATOR := target/debug/serverless-operator
CLUSTER  := e2e/cluster
STATE    := .cache
# State of the local cluster (kubeconfig, audit log, logs); override to run a second one.
export CLUSTER_DIR ?= $(CURDIR)/$(STATE)/cluster
CLUSTER_KUBECONFIG := $(CLUSTER_DIR)/kubeconfig
KUBECTL   = $(shell readlink -f $${XDG_CACHE_HOME:-$$HOME/.cache}/serverless-operator/bin/current/kubectl 2>/dev/null || command -v kubectl)
SAMPLE   ?= samples/flask-faas/flask-faas.yaml
CRD      := crds/serverlessapps.serverless-operator.dev.yaml
POLICY   := crds/serverlessapps-admission.yaml
CLUSTER_BIN = $${XDG_CACHE_HOME:-$$HOME/.cache}/serverless-operator/bin/current

# The operator's image: config/default names the same repository and tag.
VERSION    := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
IMAGE_NAME ?= ghcr.io/serverless-operator/serverless-operator
IMAGE_TAG  ?= v$(VERSION)
IMAGE_DIR  := target/image/oci
# Static (glibc linked in), so the image needs no runtime files; the Containerfile copies it.
IMAGE_TARGET := x86_64-unknown-linux-gnu
IMAGE_BINARY := target/$(IMAGE_TARGET)/release/serverless-operator
# Where `make image-push` pushes: the local cluster's registry on loopback, unless set.
LOCAL_REGISTRY = 127.0.0.1:$(or $(shell sed -n 's/^CLUSTER_REGISTRY_PORT=//p' $(CLUSTER_DIR)/ports.env 2>/dev/null),5000)
REGISTRY   ?= $(LOCAL_REGISTRY)
PUSHED_IMAGE = $(REGISTRY)/serverless-operator:$(IMAGE_TAG)
# The Flask FaaS sample's image: the tag its manifest names; `make sample-image` pushes it.
SAMPLE_TAG   := $(shell sed -n 's|^  image: .*/flask-faas:||p' samples/flask-faas/flask-faas.yaml)
SAMPLE_IMAGE  = $(REGISTRY)/samples/flask-faas:$(SAMPLE_TAG)
# The Redis the local cluster runs for it: the tag e2e/samples/redis.yaml names.
REDIS_TAG    := $(shell sed -n 's|^ *image: .*/redis:||p' e2e/samples/redis.yaml)

##@ General
.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Build and test
.PHONY: build
build: ## Build the operator binary
	$(CARGO) build --locked -p serverless-operator

.PHONY: image-binary
image-binary: ## Build the static release binary the image holds
	RUSTFLAGS="-C target-feature=+crt-static" $(CARGO) build --locked --release --target $(IMAGE_TARGET) -p serverless-operator

.PHONY: image
image: image-binary ## Build the operator's OCI image into target/image/oci (no daemon; reproducible)
	IMAGE_REF=$(IMAGE_NAME):$(IMAGE_TAG) operator/image.sh $(IMAGE_BINARY) $(IMAGE_DIR)

# The Containerfile's build of the same binary, with Buildah (no daemon), for comparison.
.PHONY: image-containerfile
image-containerfile: image-binary ## Build operator/Containerfile with Buildah into target/image/containerfile
	command -v buildah >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah >/dev/null; }
	buildah --storage-driver vfs build --quiet --isolation chroot -f operator/Containerfile \
		--build-arg VERSION=$(VERSION) --build-arg REVISION=$$(git rev-parse HEAD) -t localhost/serverless-operator:containerfile . >/dev/null
	rm -rf target/image/containerfile
	buildah --storage-driver vfs push --quiet localhost/serverless-operator:containerfile oci:target/image/containerfile

.PHONY: image-push
image-push: image ## Push the image to $$REGISTRY (default: the local cluster's registry)
	e2e/cluster/build.sh crane >/dev/null
	$(CLUSTER_BIN)/crane push $(if $(filter 127.0.0.1:%,$(REGISTRY)),--insecure) $(IMAGE_DIR) $(PUSHED_IMAGE)

.PHONY: sample-image
sample-image: ## Build the Flask FaaS sample's image from Debian's packages (no daemon) and push it to $$REGISTRY
	samples/debian-image.sh $(SAMPLE_IMAGE) "python3 python3-flask python3-redis gunicorn tini" samples/flask-faas -- \
		--workdir /app --env PYTHONUNBUFFERED=1 --env PYTHONDONTWRITEBYTECODE=1 --entrypoint /usr/bin/tini,-- \
		--cmd gunicorn,--bind,0.0.0.0:8888,--workers,1,--threads,8,server:app \
		--label org.opencontainers.image.title=flask-faas --label org.opencontainers.image.version=$(SAMPLE_TAG) \
		--label org.opencontainers.image.source=https://github.com/serverless-operator/serverless-operator

# The Redis the sample queues jobs in on the local cluster (e2e/samples/redis.yaml).
.PHONY: sample-images
sample-images: sample-image ## sample-image, and the local cluster's Redis for it, both to the local registry
	samples/debian-image.sh $(LOCAL_REGISTRY)/samples/redis:$(REDIS_TAG) "redis-server tini" -- --entrypoint /usr/bin/tini,--,redis-server

.PHONY: sample-test
sample-test: ## The Flask FaaS sample's own tests (pytest, with Debian's Flask and Redis; `make deps`)
	@/usr/bin/python3 -c 'import flask, redis, pytest' 2>/dev/null && command -v redis-server >/dev/null || \
		{ echo "Flask, redis-py, pytest or redis-server is missing: run 'make deps'" >&2; exit 1; }
	cd samples/flask-faas && /usr/bin/python3 -m pytest -q -p no:cacheprovider

# The Debian packages the test tiers run with; the builds of the local cluster, the images and
# the real node install what they need themselves.
DEPS := lua5.1 python3-flask python3-redis python3-pytest redis-server

.PHONY: deps
deps: ## Install the Debian packages the tests use (Lua 5.1; Flask, redis-py, pytest, Redis); make test does it first
	@missing=$$(for p in $(DEPS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing $$missing" >&2; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

.PHONY: test
test: deps lint unit sample-test scan e2e ## Everything CI runs: lint, unit tier, the sample's tests, the security scan, end-to-end suite on a local cluster

.PHONY: lint
lint: ## cargo fmt --check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

.PHONY: unit
unit: argocd-health ## Unit, CEL, golden-render and mock-API reconcile tests (no cluster)
	$(CARGO) test --locked -p serverless-operator

.PHONY: scan
scan: build cluster-build ## Trivy (built from its module) over config/ and every sample's render: no HIGH or CRITICAL left
	e2e/trivy/scan.sh $(OPERATOR) $(KUBECTL)

.PHONY: argocd-health
argocd-health: ## Test the Argo CD health check (Lua) with Lua 5.1, Argo CD's dialect (`make deps`)
	@command -v lua5.1 >/dev/null || { echo "lua5.1 is missing: run 'make deps'" >&2; exit 1; }
	cd config/argocd/health && lua5.1 test.lua

.PHONY: e2e
e2e: build cluster-up $(if $(E2E_KUBECONFIG),,e2e-image) ## End-to-end suite against the local cluster (or $$E2E_KUBECONFIG)
	if [ -z "$${E2E_KUBECONFIG:-}" ]; then \
		source $(CLUSTER_DIR)/env; \
		export E2E_KUBECONFIG=$(CLUSTER_KUBECONFIG) AUDIT_LOG=$(CLUSTER_DIR)/audit.log E2E_LOCAL_CLUSTER=1; \
		export OPERATOR_IMAGE=$(PUSHED_IMAGE) IMAGE_BINARY=$(CURDIR)/$(IMAGE_BINARY); \
	fi; \
	OPERATOR_BIN=$(CURDIR)/$(OPERATOR) KEDA_CRDS=$$(e2e/keda/crds.sh) ARGOCD_CRDS=$$(e2e/argocd/crds.sh) \
	E2E_ARGOCD=$${E2E_ARGOCD:-1} $(CARGO) test --locked -p serverless-e2e -- --test-threads=$${E2E_THREADS:-4}

# The image tests compare both builds; the install test runs the pushed one on the real node,
# and the Flask FaaS test the samples' images.
.PHONY: e2e-image
e2e-image: image image-containerfile
	if [ "$${CLUSTER_REAL_NODE:-1}" = 1 ]; then $(MAKE) -s image-push sample-images; fi

.PHONY: manifests
manifests: ## Regenerate crds/ from the Rust types
	$(CARGO) run --locked -q -p serverless-operator -- crd > $(CRD)
	$(CARGO) run --locked -q -p serverless-operator -- policy > $(POLICY)

.PHONY: golden
golden: ## Regenerate the golden renders of samples/ (review the diff)
	UPDATE_GOLDEN=1 $(CARGO) test --locked -p serverless-operator --test manifests

.PHONY: render
render: build ## Render the children of SAMPLE (default samples/flask-faas/flask-faas.yaml)
	$(OPERATOR) render -f $(SAMPLE)

##@ Local cluster (control plane, kwok nodes, a real node; CLUSTER_REAL_NODE=0 leaves it out)
.PHONY: cluster-build
cluster-build: ## Build the local cluster's binaries (control plane, kwok, real node) from pinned Go modules (cached)
	$(CLUSTER)/build.sh >/dev/null

.PHONY: cluster-up
cluster-up: ## Start the local cluster (idempotent)
	$(CLUSTER)/up.sh

.PHONY: cluster-down
cluster-down: operator-stop ## Stop the local cluster and KEDA's processes (idempotent)
	e2e/keda/down.sh >/dev/null
	$(CLUSTER)/down.sh

.PHONY: kubeconfig
kubeconfig: ## Print the path of the local cluster's kubeconfig
	@echo $(CLUSTER_KUBECONFIG)

.PHONY: run
run: build cluster-up ## Local cluster + CRDs + operator + the Flask FaaS sample on the real node, answering
	KUBECONFIG=$(CLUSTER_KUBECONFIG) $(KUBECTL) apply --server-side -f $(CRD) -f $(POLICY) -f $$(e2e/keda/crds.sh) >/dev/null
	KUBECONFIG=$(CLUSTER_KUBECONFIG) $(KUBECTL) wait --for condition=established --timeout=60s -f $(CRD) >/dev/null
	$(MAKE) -s operator-start
	e2e/samples/up.sh
	@echo
	KUBECONFIG=$(CLUSTER_KUBECONFIG) $(KUBECTL) get serverlessapps -A
	@echo
	@echo "Operator log: $(STATE)/operator.log    kubectl: export KUBECONFIG=$(CLUSTER_KUBECONFIG)"
	@echo "Stop everything: make cluster-down"

.PHONY: operator-start
operator-start: ## Start the operator in the background against the local cluster
	@mkdir -p $(STATE)
	@if [ -f $(STATE)/operator.pid ] && kill -0 $$(cat $(STATE)/operator.pid) 2>/dev/null; then \
		echo "operator already running (pid $$(cat $(STATE)/operator.pid))"; \
	else \
		KUBECONFIG=$(CLUSTER_KUBECONFIG) nohup $(OPERATOR) run --metrics-addr 127.0.0.1:0 >$(STATE)/operator.log 2>&1 & echo $$! > $(STATE)/operator.pid; \
		echo "operator started (pid $$(cat $(STATE)/operator.pid), log $(STATE)/operator.log)"; \
	fi

.PHONY: operator-stop
operator-stop: ## Stop the background operator
	@if [ -f $(STATE)/operator.pid ]; then kill $$(cat $(STATE)/operator.pid) 2>/dev/null || true; rm -f $(STATE)/operator.pid; fi

##@ Install into a cluster (current kubeconfig)
.PHONY: install
install: ## Install the CRD and its admission policy
	$(KUBECTL) apply --server-side -f $(CRD) -f $(POLICY)

.PHONY: uninstall
uninstall: ## Remove the CRD (and with it every ServerlessApp)
	$(KUBECTL) delete --ignore-not-found -f $(CRD) -f $(POLICY)

.PHONY: deploy
deploy: ## Install the operator: CRD, namespace, RBAC, Deployment (config/default)
	$(KUBECTL) apply --server-side -k config/default

.PHONY: undeploy
undeploy: ## Remove the operator config/default installed; keep the CRD and every ServerlessApp
	$(KUBECTL) delete --ignore-not-found -k config/default -l 'app.kubernetes.io/component!=crd'

.PHONY: undeploy-all
undeploy-all: ## Also delete the CRD: every ServerlessApp and its children go (CONFIRM=yes)
	@[ "$(CONFIRM)" = yes ] || { echo "This deletes every ServerlessApp in the cluster and all their children; run 'make undeploy-all CONFIRM=yes'" >&2; exit 1; }
	$(KUBECTL) delete --ignore-not-found -k config/default

##@ Benchmark
BENCH_CLUSTER_DIR ?= $(CURDIR)/$(STATE)/bench-cluster
# Own ports, so the bench cluster runs next to the default one (6443, 23790, ...).
BENCH_CLUSTER_ENV = CLUSTER_DIR=$(BENCH_CLUSTER_DIR) CLUSTER_REAL_NODE=0 \
	CLUSTER_APISERVER_PORT=$${BENCH_APISERVER_PORT:-16443} CLUSTER_ETCD_PORT=$${BENCH_ETCD_PORT:-33790} \
	CLUSTER_ETCD_PEER_PORT=$${BENCH_ETCD_PEER_PORT:-33800} CLUSTER_KCM_PORT=$${BENCH_KCM_PORT:-20357} \
	CLUSTER_SCHEDULER_PORT=$${BENCH_SCHEDULER_PORT:-20359} CLUSTER_KWOK_PORT=$${BENCH_KWOK_PORT:-20347} \
	CLUSTER_NODE_POOLS="$${BENCH_NODE_POOLS:-general:20 functions:20}" \
	CLUSTER_KCM_ARGS="$${BENCH_KCM_ARGS:-$(BENCH_CLIENT_LIMITS) --concurrent-deployment-syncs=10 --concurrent-replicaset-syncs=10}" \
	CLUSTER_SCHEDULER_ARGS="$${BENCH_SCHEDULER_ARGS:-$(BENCH_CLIENT_LIMITS)}"
# client-go's default client limits (kcm 20 QPS per controller, scheduler 50) would pace the
# Deployments, not the API server; see bench/README.md.
BENCH_CLIENT_LIMITS = --kube-api-qps=300 --kube-api-burst=600

.PHONY: bench-cel
bench-cel: ## What the CRD's CEL rules cost the API server per write, on its own validator in-process (not part of test); see bench/README.md
	cd bench/cel && go test -run TestAppsAreValid -bench . -benchtime $${BENCH_CEL_COUNT:-1000}x

.PHONY: bench
bench: ## Scale benchmark (not part of test): BENCH_SIZES=100,1000,3000; see bench/README.md
	$(CARGO) build --locked --release -p serverless-operator -p serverless-bench
	$(BENCH_CLUSTER_ENV) $(CLUSTER)/up.sh
	$(BENCH_CLUSTER_ENV) E2E_KUBECONFIG=$(BENCH_CLUSTER_DIR)/kubeconfig AUDIT_LOG=$(BENCH_CLUSTER_DIR)/audit.log \
	OPERATOR_BIN=$(CURDIR)/target/release/serverless-operator \
	target/release/serverless-bench
	@echo "Results: target/bench/results.json. Stop the bench cluster: $(BENCH_CLUSTER_ENV) $(CLUSTER)/down.sh"
