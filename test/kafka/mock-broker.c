/*
 * A real Kafka-protocol broker for the integration tests: librdkafka's mock cluster
 * (rdkafka_mock.h), driven by line commands on stdin so a test can create topics and take
 * brokers down and up. It prints "bootstrap <host:port,...>" when ready and exits when stdin
 * closes, so it never outlives the test that started it.
 *
 *   cc -O2 -o mock-broker mock-broker.c -lrdkafka
 *   ./mock-broker [brokers=3]
 *   stdin: topic <name> <partitions> [replication] | down <id|-1> | up <id|-1> | rtt <id|-1> <ms>
 *          | errors <apiKey> <err>... | quit
 *   each command answers one line: "ok" or "error <text>".
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  int brokers = argc > 1 ? atoi(argv[1]) : 3;
  char errstr[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  /* Silence the handle's own logs: stdout is the protocol, stderr is for real problems. */
  rd_kafka_conf_set(conf, "log_level", "0", errstr, sizeof errstr);
  rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) {
    fprintf(stderr, "rd_kafka_new: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (!mc) {
    fprintf(stderr, "rd_kafka_mock_cluster_new failed\n");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("bootstrap %s\n", rd_kafka_mock_cluster_bootstraps(mc));

  char line[4096];
  while (fgets(line, sizeof line, stdin)) {
    char cmd[64] = "", a[1024] = "";
    int n = 0, r = 0;
    rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (sscanf(line, "%63s", cmd) != 1) continue;
    if (!strcmp(cmd, "quit")) break;
    if (!strcmp(cmd, "topic")) {
      int rf = 1;
      if (sscanf(line, "%*s %1023s %d %d", a, &n, &rf) < 2) { printf("error usage: topic <name> <partitions> [rf]\n"); continue; }
      err = rd_kafka_mock_topic_create(mc, a, n, rf);
    } else if (!strcmp(cmd, "down") || !strcmp(cmd, "up")) {
      if (sscanf(line, "%*s %d", &n) != 1) { printf("error usage: %s <id|-1>\n", cmd); continue; }
      err = !strcmp(cmd, "down") ? rd_kafka_mock_broker_set_down(mc, n) : rd_kafka_mock_broker_set_up(mc, n);
    } else if (!strcmp(cmd, "rtt")) {
      if (sscanf(line, "%*s %d %d", &n, &r) != 2) { printf("error usage: rtt <id|-1> <ms>\n"); continue; }
      err = rd_kafka_mock_broker_set_rtt(mc, n, r);
    } else if (!strcmp(cmd, "errors")) {
      int key, off = 0, used = 0;
      rd_kafka_resp_err_t errs[64];
      size_t cnt = 0;
      if (sscanf(line, "%*s %d%n", &key, &off) != 1) { printf("error usage: errors <apiKey> <err>...\n"); continue; }
      while (cnt < 64 && sscanf(line + off, "%d%n", &r, &used) == 1) { errs[cnt++] = (rd_kafka_resp_err_t)r; off += used; }
      rd_kafka_mock_push_request_errors_array(mc, (int16_t)key, cnt, errs);
    } else {
      printf("error unknown command %s\n", cmd);
      continue;
    }
    if (err) printf("error %s\n", rd_kafka_err2str(err));
    else printf("ok\n");
  }
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
