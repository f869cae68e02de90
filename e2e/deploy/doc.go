// Package deploy checks the deployment files users run but this machine cannot (no Docker
// engine here): docker-compose.yml, the Dockerfiles, and later the Prometheus alert rules and
// the Grafana dashboard. Each is parsed by the real library of its tool.
package deploy
