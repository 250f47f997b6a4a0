# MYCA Edge. `make help` lists the targets. The stack targets need Docker with Compose (v2
# `docker compose` or v1 `docker-compose`, found by scripts/compose.sh); the rest work without it.
.DEFAULT_GOAL := help
SHELL := /bin/bash
COMPOSE := bash scripts/compose.sh -p myca-edge

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-10s %s\n", $$1, $$2}'

install: ## Install dependencies from the lock file
	npm ci

start: ## Run the Node server with embedded defaults (no services needed)
	npm start

dev: ## Run the same app in workerd (wrangler dev)
	npm run dev

test: ## Run the tests (needs Postgres and Redis on 127.0.0.1)
	npm test

check: ## Type-check, lint, secret scan and tests, as CI does
	npm run check

bench: ## Benchmarks: chat-route and actions (numbers in docs/)
	npm run bench

migrate: ## Apply database migrations to DATABASE_URL (or the embedded database)
	npm run migrate

fmt: ## Format and fix lint findings
	npm run fmt

lint: ## Lint and format check
	npm run lint

.env:
	@bash scripts/init-env.sh

up: .env ## Start the local stack and wait until it is healthy (Docker)
	$(COMPOSE) up -d --build --wait

down: ## Stop the local stack (volumes are kept)
	$(COMPOSE) --profile litellm --profile ollama --profile scale down

logs: ## Follow the logs of the local stack (SERVICE=app for one)
	$(COMPOSE) logs -f --tail=100 $(SERVICE)

health: ## One line per service of the stack (app /health and /ready, Postgres, Redis, Qdrant, Prometheus, Tempo, Grafana)
	@bash scripts/health.sh

reset-db: ## Drop the stack's Postgres data (asks first), then start it again and migrate
	@read -r -p "This deletes every action, audit record and run in the stack's Postgres. Type 'reset' to go on: " answer; \
	  [ "$$answer" = reset ] || { echo "Nothing was dropped."; exit 1; }
	$(COMPOSE) rm -s -f postgres
	docker volume rm myca-edge_postgres-data 2>/dev/null || docker volume rm mycaedge_postgres-data  # v2 || v1 (which drops the hyphen)
	$(COMPOSE) up -d --wait postgres app

.PHONY: help install start dev test check bench migrate fmt lint up down logs health reset-db
