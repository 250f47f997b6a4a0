# MYCA Edge. `make help` lists the targets. Targets that need Docker say so.
.DEFAULT_GOAL := help
SHELL := /bin/bash

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

migrate: ## Apply database migrations to DATABASE_URL (or the embedded database)
	npm run migrate

fmt: ## Format and fix lint findings
	npm run fmt

lint: ## Lint and format check
	npm run lint

up: ## Start the local stack with Docker compose (needs a Docker engine)
	docker compose up -d --wait

down: ## Stop the local stack
	docker compose down

logs: ## Follow the app's logs in the local stack
	docker compose logs -f app

health: ## Curl /health and /ready of the app (PORT, default 8080)
	@curl -fsS "http://127.0.0.1:$${PORT:-8080}/health" && echo && curl -fsS "http://127.0.0.1:$${PORT:-8080}/ready" && echo

.PHONY: help install start dev test check migrate fmt lint up down logs health
