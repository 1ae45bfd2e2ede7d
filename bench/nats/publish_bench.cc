// Synchronous JetStream publish rate, three ways, against one throwaway nats-server -js (file
// storage, as the event hub and tx queue use it), interleaved in rounds so drift hits all alike:
//   raw        nats.c js_Publish, no headers (the floor JetStream itself costs)
//   raw-fenced nats.c js_PublishMsg with Nats-Msg-Id + Nats-Expected-Last-Msg-Id
//   ours       gonka::nats::JetStream::Publish with msg_id + expected_last_msg_id
// Prints msgs/s for each and the ratios ours/raw and ours/raw-fenced.
//
//   bazel run //bench/nats:publish_bench -- [messages per round, default 3000] [payload bytes,
//   default 1024] [rounds, default 3]
#include <nats/nats.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gonka/nats/jetstream.h"
#include "gonka/testing/servers.h"

namespace {

using gonka::nats::JetStream;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "publish_bench: %s\n", what.c_str());
  std::exit(1);
}

double Rate(int n, absl::Duration d) { return n / absl::ToDoubleSeconds(d); }

}  // namespace

int main(int argc, char** argv) {
  int messages = argc > 1 ? std::atoi(argv[1]) : 3000;
  int payload_bytes = argc > 2 ? std::atoi(argv[2]) : 1024;
  int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
  std::string payload(payload_bytes, 'x');

  gonka::testing::NatsServer server;
  if (absl::Status s = server.Start(); !s.ok()) Die(s.ToString());

  gonka::nats::NatsOptions o;
  o.urls = {server.url()};
  o.timeout = absl::Seconds(5);
  auto js = JetStream::Connect(o);
  if (!js.ok()) Die(js.status().ToString());
  for (const char* name : {"RAW", "RAWFENCED", "OURS"}) {
    gonka::nats::StreamConfig c;
    c.name = name;
    c.subjects = {absl::StrCat("bench.", name)};
    if (auto st = (*js)->EnsureStream(c); !st.ok()) Die(st.status().ToString());
  }

  // Raw nats.c on its own connection, same options as ours.
  natsConnection* nc = nullptr;
  jsCtx* raw = nullptr;
  if (natsConnection_ConnectTo(&nc, server.url().c_str()) != NATS_OK ||
      natsConnection_JetStream(&raw, nc, nullptr) != NATS_OK) {
    Die("raw nats.c connect failed");
  }

  absl::Duration t_raw, t_fenced, t_ours;
  int next_fenced = 0, next_ours = 0;
  for (int r = 0; r < rounds; ++r) {
    absl::Time t0 = absl::Now();
    for (int i = 0; i < messages; ++i) {
      jsErrCode err = static_cast<jsErrCode>(0);
      natsStatus s = js_Publish(nullptr, raw, "bench.RAW", payload.data(),
                                static_cast<int>(payload.size()), nullptr, &err);
      if (s != NATS_OK) Die(absl::StrCat("js_Publish: ", natsStatus_GetText(s), " ", err));
    }
    t_raw += absl::Now() - t0;

    t0 = absl::Now();
    for (int i = 0; i < messages; ++i, ++next_fenced) {
      std::string id = absl::StrCat("c/", next_fenced);
      std::string prev = absl::StrCat("c/", next_fenced - 1);
      natsMsg* msg = nullptr;
      natsMsg_Create(&msg, "bench.RAWFENCED", nullptr, payload.data(),
                     static_cast<int>(payload.size()));
      jsPubOptions po;
      jsPubOptions_Init(&po);
      po.MsgId = id.c_str();
      if (next_fenced > 0) po.ExpectLastMsgId = prev.c_str();
      jsErrCode err = static_cast<jsErrCode>(0);
      natsStatus s = js_PublishMsg(nullptr, raw, msg, &po, &err);
      natsMsg_Destroy(msg);
      if (s != NATS_OK) Die(absl::StrCat("js_PublishMsg: ", natsStatus_GetText(s), " ", err));
    }
    t_fenced += absl::Now() - t0;

    t0 = absl::Now();
    for (int i = 0; i < messages; ++i, ++next_ours) {
      gonka::nats::PublishOptions po;
      po.msg_id = absl::StrCat("c/", next_ours);
      if (next_ours > 0) po.expected_last_msg_id = absl::StrCat("c/", next_ours - 1);
      auto ack = (*js)->Publish("bench.OURS", payload, po);
      if (!ack.ok() || ack->duplicate) Die(ack.status().ToString());
    }
    t_ours += absl::Now() - t0;
  }
  int total = messages * rounds;
  double raw_rate = Rate(total, t_raw), fenced_rate = Rate(total, t_fenced),
         ours_rate = Rate(total, t_ours);
  std::printf("payload %d B, %d rounds x %d sync publishes each, file storage, one nats-server\n",
              payload_bytes, rounds, messages);
  std::printf("raw js_Publish                      %10.0f msgs/s\n", raw_rate);
  std::printf("raw js_PublishMsg msg-id+expected   %10.0f msgs/s\n", fenced_rate);
  std::printf("JetStream::Publish msg-id+expected  %10.0f msgs/s\n", ours_rate);
  std::printf("ratio ours/raw js_Publish = %.3f, ours/raw fenced = %.3f\n", ours_rate / raw_rate,
              ours_rate / fenced_rate);
  jsCtx_Destroy(raw);
  natsConnection_Destroy(nc);
  return 0;
}
