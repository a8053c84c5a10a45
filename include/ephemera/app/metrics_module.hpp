// The interface of libephemera-metrics.so, the module that serves /metrics with cpp-httplib
// (src/app/metrics_module.cpp), as MetricsServer loads it. Plain C, so that nothing but
// pointers and strings crosses between the program and the module.
#pragma once

#include <cstddef>

extern "C" {

// Binds `listen` ([ADDR:]PORT) and serves from a thread of its own; `web_config`, when not empty,
// is a Prometheus exporter-toolkit web configuration file (TLS, basic authentication). nullptr
// when the address is bad or taken or the configuration cannot be used, with the reason, one
// line, in `error`.
void* ephemera_metrics_start(const char* listen, const char* web_config, char* error,
                             std::size_t error_size);
// The page scrapes get from now on (copied).
void ephemera_metrics_publish(void* server, const char* page, std::size_t size);
// The base URL served: http://ADDR:PORT, or https:// with TLS.
const char* ephemera_metrics_address(void* server);
// Stops serving and frees the server.
void ephemera_metrics_stop(void* server);

}  // extern "C"
