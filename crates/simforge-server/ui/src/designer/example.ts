// The example topology (examples/sysdesign/system.yaml, comments trimmed).
export const EXAMPLE_TOPOLOGY = `name: web-shop
horizon: 60000        # simulated time measured per replication (ms)
warmup: 5000          # simulated time discarded first
replications: 5       # independent replications: 95% intervals across them
network:
  default: 0.3        # one-way latency of every edge not listed below
  edges:
    "api->db": {dist: lognormal, mean: 0.8, cv: 0.5}
components:
  clients:
    type: source
    arrivals: {process: poisson, rate: 600}
    mix:
      - {class: browse, weight: 0.9, to: lb}
      - {class: order, weight: 0.1, to: lb}
  lb:
    type: load_balancer
    policy: least_outstanding
    targets: [api]
    cost_per_hour: 0.03
  api:
    type: service
    replicas: 5
    concurrency: 4
    service_time: {dist: lognormal, mean: 20, cv: 0.8}
    timeout: 2000
    retries: {max: 1, backoff: 50}
    calls_by_class:
      browse: [cache]
      order: [db, events]
    cost_per_hour: 0.10
  cache:
    type: cache
    hit_ratio: 0.85
    hit_time: {dist: exponential, mean: 0.4}
    miss: db
    cost_per_hour: 0.25
  db:
    type: database
    pool: 8
    query_time: {dist: lognormal, mean: 25, cv: 1.2}
    timeout: 1000
    cost_per_hour: 1.20
  events:
    type: topic
    partitions: 6
    group_size: 2
    retention: 100000
    consumer: indexer
    cost_per_hour: 0.01
  indexer:
    type: stream_processor
    process_time: {dist: exponential, mean: 12}
    next: search
    cost_per_hour: 0.05
  search:
    type: sink
`;
