# Images, clusters, the Helm chart and the end-to-end tests (included by the Makefile).
# Binaries built from Go modules are cached in ~/.cache/leviathan, outside the repository.

LEVIATHAN_CACHE ?= $(HOME)/.cache/leviathan
export LEVIATHAN_CACHE
HELM_VERSION := $(shell sed -n 's/^HELM_VERSION=\([^ ]*\).*/\1/p' cluster/versions.sh)
KUBE_VERSION := $(shell sed -n 's/^KUBE_VERSION=\([^ ]*\).*/\1/p' cluster/versions.sh)
HELM := $(LEVIATHAN_CACHE)/bin/helm-$(HELM_VERSION)
KUBECTL_LOCAL := $(LEVIATHAN_CACHE)/kube/$(KUBE_VERSION)/bin/kubectl

BASE_IMAGE ?= node:20-bookworm-slim
ENGINE_IMAGE ?= leviathan/engine:dev
OPERATOR_IMAGE ?= leviathan/operator:dev
# A second tag of the engine image: the operator e2e tests roll a cluster over to it (a new image
# reference means a new pod template, hence a rolling upgrade).
ENGINE_IMAGE_NEXT ?= $(ENGINE_IMAGE)-next
# The Docker CLI needs the buildx plugin for BuildKit; without it the classic builder does (the
# Dockerfiles need nothing BuildKit-only). Builds use the host network: the local Docker here has
# no bridge network.
DOCKER_BUILD = $(if $(shell docker buildx version 2>/dev/null),docker build,DOCKER_BUILDKIT=0 docker build) --network host
KIND_CLUSTER ?= leviathan
KIND_KUBECONFIG := $(LEVIATHAN_CACHE)/kind/kubeconfig
LOCAL_KUBECONFIG := $(LEVIATHAN_CACHE)/cluster/kubeconfig
# The e2e tests run against $(KUBECONFIG) when set, else against the local cluster.
E2E_KUBECONFIG = $(or $(KUBECONFIG),$(LOCAL_KUBECONFIG))

.PHONY: host-deps docker base-image images kind-up kind-down cluster-up cluster-load cluster-down helm chart-test chart-crds e2e e2e-ci

host-deps: ## Install Docker, etcd, containerd, runc, CNI plugins, ... from Debian when missing (root)
	cluster/host-deps.sh

docker: ## Make sure a Docker daemon answers (starts dockerd in the background when none does)
	cluster/dockerd.sh start

base-image: ## Build the stand-in base image (node:20-bookworm-slim) from Debian + this host's Node.js, if Docker lacks it
	cluster/base-image.sh $(BASE_IMAGE)

images: ## Build the engine and operator images (leviathan/engine:dev, leviathan/operator:dev)
	@echo "== image $(ENGINE_IMAGE) (base $(BASE_IMAGE))"
	$(DOCKER_BUILD) --build-arg BASE_IMAGE=$(BASE_IMAGE) -f engine/Dockerfile -t $(ENGINE_IMAGE) .
	docker tag $(ENGINE_IMAGE) $(ENGINE_IMAGE_NEXT)
	@echo "== image $(OPERATOR_IMAGE) (base $(BASE_IMAGE))"
	$(DOCKER_BUILD) --build-arg BASE_IMAGE=$(BASE_IMAGE) -f operator/Dockerfile -t $(OPERATOR_IMAGE) .
	@docker image ls --format '   {{.Repository}}:{{.Tag}}  {{.Size}}' | grep -E '^   ($(ENGINE_IMAGE)|$(OPERATOR_IMAGE))$$' || true

kind-up: ## Create a kind cluster "leviathan" and load the images (machines with kind)
	@echo "== kind cluster $(KIND_CLUSTER)"
	kind get clusters 2>/dev/null | grep -qx $(KIND_CLUSTER) || kind create cluster --name $(KIND_CLUSTER) --wait 120s
	@echo "== loading $(ENGINE_IMAGE) $(ENGINE_IMAGE_NEXT) $(OPERATOR_IMAGE)"
	kind load docker-image --name $(KIND_CLUSTER) $(ENGINE_IMAGE) $(ENGINE_IMAGE_NEXT) $(OPERATOR_IMAGE)
	@mkdir -p $(dir $(KIND_KUBECONFIG))
	kind get kubeconfig --name $(KIND_CLUSTER) > $(KIND_KUBECONFIG)
	@echo "kubeconfig: $(KIND_KUBECONFIG)   (make e2e KUBECONFIG=$(KIND_KUBECONFIG))"

kind-down: ## Delete the kind cluster
	kind delete cluster --name $(KIND_CLUSTER)
	rm -f $(KIND_KUBECONFIG)

cluster-up: install ## Start a single-node cluster of upstream components here (root; kubeconfig in ~/.cache/leviathan/cluster)
	cluster/up.sh $(ENGINE_IMAGE) $(ENGINE_IMAGE_NEXT) $(OPERATOR_IMAGE)

cluster-load: ## Import rebuilt images into the running local cluster (after make images)
	cluster/load-images.sh $(ENGINE_IMAGE) $(ENGINE_IMAGE_NEXT) $(OPERATOR_IMAGE)

cluster-down: ## Stop exactly what cluster-up started
	cluster/down.sh

$(HELM):
	cluster/build-binaries.sh helm

helm: $(HELM) ## Build helm from its Go module (cached in ~/.cache/leviathan/bin)

chart-test: install $(HELM) ## helm lint and rendered-template tests of charts/leviathan-operator
	$(HELM) lint --strict charts/leviathan-operator
	HELM=$(HELM) $(NPX) vitest run -c e2e/vitest.chart.config.ts

test: chart-test

e2e: install $(HELM) ## End-to-end tests against KUBECONFIG (default: the local cluster)
	HELM=$(HELM) KUBECTL=$(if $(wildcard $(KUBECTL_LOCAL)),$(KUBECTL_LOCAL),kubectl) KUBECONFIG=$(E2E_KUBECONFIG) \
	  ENGINE_IMAGE=$(ENGINE_IMAGE) ENGINE_IMAGE_NEXT=$(ENGINE_IMAGE_NEXT) OPERATOR_IMAGE=$(OPERATOR_IMAGE) $(NPX) vitest run -c e2e/vitest.config.ts $(E2E_TESTS)

e2e-ci: ## CI: host packages, Docker, base image, images, local cluster, e2e tests, cluster down
	cluster/ci.sh

chart-crds: ## Copy crds/ into the chart (charts/leviathan-operator/files/crds), which renders them
	rm -f charts/leviathan-operator/files/crds/*.yaml
	cp crds/*.yaml charts/leviathan-operator/files/crds/
