// HttpServer::HandleAsync (Responder: Respond, Stream, Defer, dropped, timed out, admission held
// until written) and AsyncHttpClient (pooling, stale connections, timeouts, warm-up, calls on
// the front server's own event loop).
#include "gonka/net/async_http_client.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gonka/net/http_client.h"
#include "gonka/net/http_server.h"
#include "gtest/gtest.h"

namespace gonka {
namespace net {
namespace {

absl::StatusOr<HttpResponse> Call(AsyncHttpClient& client, AsyncRequest r) {
  absl::Notification done;
  absl::StatusOr<HttpResponse> out;
  client.Request(std::move(r), [&](absl::StatusOr<HttpResponse> res) {
    out = std::move(res);
    done.Notify();
  });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  return out;
}

TEST(AsyncHttpClient, PoolsAndReusesConnections) {
  HttpServer server({.name = "async-up"});
  server.Handle("POST", "/echo", [](const HttpRequest& r) {
    HttpResponse res = HttpResponse::Text(200, r.body);
    res.headers.Set("X-Method", r.method);
    return res;
  });
  ASSERT_TRUE(server.Start().ok());
  AsyncHttpClient client;
  for (int i = 0; i < 5; ++i) {
    AsyncRequest r{.port = server.port(), .method = "POST", .target = "/echo"};
    r.body = absl::StrCat("hello ", i);
    absl::StatusOr<HttpResponse> res = Call(client, r);
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, absl::StrCat("hello ", i));
    EXPECT_EQ(res->headers.Get("X-Method"), "POST");
  }
  EXPECT_EQ(client.IdleConnections(server.port()), 1);
  EXPECT_EQ(server.stats().connections_accepted, 1u);
  EXPECT_EQ(client.Warm(server.port(), "/echo", 4, absl::Seconds(2)), 0);  // GET → 405
  EXPECT_GE(client.IdleConnections(server.port()), 2);
  client.DropEndpoint(server.port());
  EXPECT_EQ(client.IdleConnections(server.port()), 0);
}

TEST(AsyncHttpClient, StaleConnectionIsReplacedAndErrorsAreStatuses) {
  int port;
  AsyncHttpClient client;
  {
    HttpServer server({.name = "async-stale"});
    server.Handle("GET", "/x", [](const HttpRequest&) { return HttpResponse::Text(200, "x"); });
    ASSERT_TRUE(server.Start().ok());
    port = server.port();
    ASSERT_TRUE(Call(client, {.port = port, .target = "/x"}).ok());
    EXPECT_EQ(client.IdleConnections(port), 1);
    server.Stop(absl::Now() + absl::Seconds(2));
  }
  absl::StatusOr<HttpResponse> res = Call(client, {.port = port, .target = "/x"});
  ASSERT_FALSE(res.ok());
  EXPECT_TRUE(absl::IsUnavailable(res.status())) << res.status();

  HttpServer slow({.name = "async-slow"});
  slow.Handle("GET", "/slow", [](const HttpRequest&) {
    absl::SleepFor(absl::Milliseconds(800));
    return HttpResponse::Text(200, "late");
  });
  ASSERT_TRUE(slow.Start().ok());
  res = Call(client, {.port = slow.port(), .target = "/slow", .timeout = absl::Milliseconds(100)});
  ASSERT_FALSE(res.ok());
  EXPECT_TRUE(absl::IsDeadlineExceeded(res.status())) << res.status();
}

TEST(AsyncHttpClient, SendOnCallerThreadReusesPooledConnections) {
  HttpServer server({.name = "async-caller"});
  server.Handle("POST", "/echo", [](const HttpRequest& r) {
    return HttpResponse::Text(200, absl::StrCat(r.body.size(), ":", r.body.substr(0, 8)));
  });
  server.Handle("GET", "/slow", [](const HttpRequest&) {
    absl::SleepFor(absl::Milliseconds(800));
    return HttpResponse::Text(200, "late");
  });
  ASSERT_TRUE(server.Start().ok());
  AsyncHttpClient client({.name = "async-caller", .send_on_caller_thread = true});
  for (int i = 0; i < 50; ++i) {
    AsyncRequest r{.port = server.port(), .method = "POST", .target = "/echo"};
    r.body = absl::StrCat("request ", i);
    absl::StatusOr<HttpResponse> res = Call(client, r);
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->body, absl::StrCat(r.body.size(), ":", r.body.substr(0, 8)));
  }
  EXPECT_EQ(server.stats().connections_accepted, 1u);  // every request after the first pooled
  // A body larger than the socket takes at once: the rest is written from the I/O thread.
  AsyncRequest big{.port = server.port(), .method = "POST", .target = "/echo"};
  big.body = std::string(4 << 20, 'b');
  absl::StatusOr<HttpResponse> res = Call(client, big);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->body, absl::StrCat(4 << 20, ":bbbbbbbb"));
  // The deadline still applies on the caller-thread path.
  res =
      Call(client, {.port = server.port(), .target = "/slow", .timeout = absl::Milliseconds(100)});
  EXPECT_TRUE(absl::IsDeadlineExceeded(res.status())) << res.status();
  res = Call(client, {.port = server.port(), .method = "POST", .target = "/echo"});
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->body, "0:");
}

// A reverse proxy whose upstream sockets live on the front server's own event loop
// (Responder::executor()): the callback runs on the front's I/O thread, not the client's.
// Warm() opens as many new connections as asked, whatever the pool already holds (none of its
// GETs takes an idle connection, not even one another of its GETs just returned).
TEST(AsyncHttpClient, WarmOpensNewConnectionsBesideIdleOnes) {
  HttpServer up({.name = "warm-up"});
  up.Handle("GET", "/echo", [](const HttpRequest&) { return HttpResponse::Text(200, "get"); });
  ASSERT_TRUE(up.Start().ok());
  AsyncHttpClient client({.name = "warm"});
  EXPECT_EQ(client.Warm(up.port(), "/echo", 2, absl::Seconds(5)), 2);
  EXPECT_EQ(client.IdleConnections(up.port()), 2);
  const uint64_t accepted = up.stats().connections_accepted;
  for (int round = 0; round < 20; ++round) {
    EXPECT_EQ(client.Warm(up.port(), "/echo", 1, absl::Seconds(5)), 1);
  }
  EXPECT_EQ(client.IdleConnections(up.port()), 22);
  EXPECT_EQ(up.stats().connections_accepted, accepted + 20);
}

TEST(AsyncHttpClient, RunsOnTheCallersLoop) {
  HttpServer up({.name = "loop-up"});
  up.Handle("POST", "/echo", [](const HttpRequest& r) { return HttpResponse::Text(200, r.body); });
  up.Handle("GET", "/echo", [](const HttpRequest&) { return HttpResponse::Text(200, "get"); });
  ASSERT_TRUE(up.Start().ok());
  for (bool caller_send : {false, true}) {
    for (int threads : {1, 2}) {
      SCOPED_TRACE(absl::StrCat("send_on_caller_thread=", caller_send, " threads=", threads));
      HttpServer front({.name = "loop-front", .threads = threads});  // outlives the client
      AsyncHttpClient client({.name = "loop", .send_on_caller_thread = caller_send});
      std::thread::id client_thread;
      {
        absl::Notification done;
        client.Request({.port = up.port(), .target = "/echo"}, [&](absl::StatusOr<HttpResponse>) {
          client_thread = std::this_thread::get_id();
          done.Notify();
        });
        ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
      }
      std::atomic<int> same_thread{0}, on_client_thread{0};
      front.HandleAsync("POST", "/p", [&](const HttpRequest& r, std::shared_ptr<Responder> out) {
        const std::thread::id handler_thread = std::this_thread::get_id();
        AsyncRequest call{.port = up.port(), .method = "POST", .target = "/echo", .body = r.body};
        call.executor = out->executor();
        client.Request(std::move(call), [&, out, handler_thread](absl::StatusOr<HttpResponse> res) {
          if (std::this_thread::get_id() == handler_thread) ++same_thread;
          if (std::this_thread::get_id() == client_thread) ++on_client_thread;
          out->Respond(res.ok() ? *std::move(res) : HttpResponse::Text(502, "upstream"));
        });
      });
      ASSERT_TRUE(front.Start().ok());
      EXPECT_EQ(client.Warm(up.port(), "/echo", 4, absl::Seconds(5), front.io_executor()), 4);
      EXPECT_GE(client.IdleConnections(up.port()), 5);  // its own pool's 1 + the loop's 4
      const uint64_t accepted = up.stats().connections_accepted;
      std::vector<std::thread> callers;
      std::atomic<int> ok{0};
      for (int c = 0; c < 4; ++c) {
        callers.emplace_back([&, c] {
          HttpClient http;
          for (int i = 0; i < 25; ++i) {
            const std::string body = absl::StrCat("c", c, " i", i);
            auto res = http.Post(absl::StrCat("http://127.0.0.1:", front.port(), "/p"), body,
                                 "text/plain");
            if (res.ok() && res->status == 200 && res->body == body) ++ok;
          }
        });
      }
      for (std::thread& t : callers) t.join();
      EXPECT_EQ(ok.load(), 100);
      EXPECT_EQ(on_client_thread.load(), 0);
      if (threads == 1) EXPECT_EQ(same_thread.load(), 100);
      // 4 front connections at most in flight: the warmed pool serves them.
      EXPECT_EQ(up.stats().connections_accepted, accepted);
      client.DropEndpoint(up.port());
      EXPECT_EQ(client.IdleConnections(up.port()), 0);
    }
  }
}

// The client destroyed while a call on the front's loop waits for its upstream: the call is
// answered Cancelled at once and the late upstream answer is dropped safely.
TEST(AsyncHttpClient, DestroyedWhileACallOnTheCallersLoopWaits) {
  HttpServer up({.name = "loop-up-slow"});
  up.Handle("GET", "/slow", [](const HttpRequest&) {
    absl::SleepFor(absl::Milliseconds(600));
    return HttpResponse::Text(200, "late");
  });
  ASSERT_TRUE(up.Start().ok());
  HttpServer front({.name = "loop-front-slow"});
  auto client = std::make_unique<AsyncHttpClient>(AsyncHttpClientOptions{.name = "loop-slow"});
  absl::Notification sent;
  front.HandleAsync("GET", "/p", [&](const HttpRequest&, std::shared_ptr<Responder> out) {
    AsyncRequest call{.port = up.port(), .target = "/slow"};
    call.executor = out->executor();
    client->Request(std::move(call), [out](absl::StatusOr<HttpResponse> res) {
      out->Respond(res.ok() ? *std::move(res)
                            : HttpResponse::Text(502, std::string(res.status().message())));
    });
    sent.Notify();
  });
  ASSERT_TRUE(front.Start().ok());
  absl::StatusOr<HttpResponse> res;
  std::thread caller([&] {
    HttpClient http;
    res = http.Get(absl::StrCat("http://127.0.0.1:", front.port(), "/p"));
  });
  ASSERT_TRUE(sent.WaitForNotificationWithTimeout(absl::Seconds(10)));
  const absl::Time t0 = absl::Now();
  client.reset();
  caller.join();
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 502);
  EXPECT_NE(res->body.find("shutting down"), std::string::npos) << res->body;
  EXPECT_LT(absl::Now() - t0, absl::Milliseconds(500));
  absl::SleepFor(absl::Milliseconds(800));  // the upstream answers into the destroyed client
  EXPECT_TRUE(front.Stop(absl::Now() + absl::Seconds(5)));
}

TEST(HttpServerAsync, RespondStreamDeferDroppedAndTimeout) {
  HttpServer server({.name = "async-srv", .request_timeout = absl::Milliseconds(500)});
  std::atomic<int> guards{0};
  server.SetAdmission([&]() -> std::shared_ptr<void> {
    ++guards;
    return std::shared_ptr<int>(new int(1), [&](int* p) {
      delete p;
      --guards;
    });
  });
  server.HandleAsync("GET", "/later", [](const HttpRequest& r, std::shared_ptr<Responder> out) {
    std::string q = r.QueryParam("q").value_or("");
    std::thread([out, q] {
      absl::SleepFor(absl::Milliseconds(20));
      out->Respond(HttpResponse::Text(200, absl::StrCat("later ", q)));
    }).detach();
  });
  server.HandleAsync("GET", "/stream", [](const HttpRequest&, std::shared_ptr<Responder> out) {
    out->Stream([](std::shared_ptr<ResponseStream> s) {
      s->Write("data: a\n\n");
      s->Write("data: b\n\n");
      s->Close();
    });
  });
  server.HandleAsync("GET", "/defer", [](const HttpRequest&, std::shared_ptr<Responder> out) {
    out->Defer([] { return HttpResponse::Text(201, "deferred"); });
  });
  server.HandleAsync("GET", "/drop", [](const HttpRequest&, std::shared_ptr<Responder>) {});
  std::shared_ptr<Responder> kept;
  absl::Mutex kept_mu;
  server.HandleAsync("GET", "/never", [&](const HttpRequest&, std::shared_ptr<Responder> out) {
    absl::MutexLock lock(&kept_mu);
    kept = out;
  });
  ASSERT_TRUE(server.Start().ok());
  HttpClient http;
  const std::string base = absl::StrCat("http://127.0.0.1:", server.port());
  for (int i = 0; i < 3; ++i) {
    auto res = http.Get(base + "/later?q=" + std::to_string(i));
    ASSERT_TRUE(res.ok()) << res.status();
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->body, absl::StrCat("later ", i));
  }
  auto res = http.Get(base + "/stream");
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->body, "data: a\n\ndata: b\n\n");
  res = http.Get(base + "/defer");
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 201);
  res = http.Get(base + "/drop");
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 500);
  res = http.Get(base + "/never");
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(res->status, 503);  // the request timeout
  {
    absl::MutexLock lock(&kept_mu);
    ASSERT_NE(kept, nullptr);
    kept->Respond(HttpResponse::Text(200, "too late"));  // ignored
    kept.reset();
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (guards.load() != 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(guards.load(), 0);
  EXPECT_TRUE(server.Stop(absl::Now() + absl::Seconds(2)));
}

// The admission guard of an asynchronous request is held until its response is written.
TEST(HttpServerAsync, GuardHeldUntilAnswered) {
  HttpServer server({.name = "async-guard"});
  std::atomic<int> guards{0};
  server.SetAdmission([&]() -> std::shared_ptr<void> {
    ++guards;
    return std::shared_ptr<int>(new int(1), [&](int* p) {
      delete p;
      --guards;
    });
  });
  absl::Notification got;
  std::shared_ptr<Responder> pending;
  server.HandleAsync("POST", "/hold", [&](const HttpRequest&, std::shared_ptr<Responder> out) {
    pending = out;
    got.Notify();
  });
  ASSERT_TRUE(server.Start().ok());
  std::thread client([&] {
    HttpClient http;
    auto res = http.Request("POST", absl::StrCat("http://127.0.0.1:", server.port(), "/hold"), "x",
                            HttpCallOptions::Timeout(absl::Seconds(5)));
    EXPECT_TRUE(res.ok() && res->status == 202);
  });
  ASSERT_TRUE(got.WaitForNotificationWithTimeout(absl::Seconds(5)));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(guards.load(), 1);
  pending->Respond(HttpResponse::Text(202, "ok"));
  pending.reset();
  client.join();
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (guards.load() != 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ(guards.load(), 0);
}

TEST(AsyncHttpClient, StreamsTheHeadThenEachPieceAndStopsWhenAsked) {
  HttpServer server({.name = "async-stream"});
  server.HandleStream("GET", "/events", [](const HttpRequest&, std::shared_ptr<ResponseStream> s) {
    s->SetHeader("X-Stream", "yes");
    for (int i = 0; i < 3; ++i) {
      if (!s->Write(absl::StrCat("data: ", i, "\n\n"))) return;
      absl::SleepFor(absl::Milliseconds(30));
    }
    s->Close();
  });
  ASSERT_TRUE(server.Start().ok());
  AsyncHttpClient client;
  std::atomic<int> head_status{0};
  std::string head_header;
  std::vector<std::string> pieces;
  AsyncRequest r{.port = server.port(), .target = "/events"};
  r.on_head = [&](const HttpResponse& head) {
    head_status = head.status;
    head_header = head.headers.Get("X-Stream");
  };
  r.on_body = [&](absl::string_view piece) {
    pieces.emplace_back(piece);
    return true;
  };
  absl::StatusOr<HttpResponse> res = Call(client, r);
  ASSERT_TRUE(res.ok()) << res.status();
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(head_status.load(), 200);
  EXPECT_EQ(head_header, "yes");
  EXPECT_TRUE(res->body.empty());
  std::string all;
  for (const std::string& p : pieces) all += p;
  EXPECT_EQ(all, "data: 0\n\ndata: 1\n\ndata: 2\n\n");
  EXPECT_GE(pieces.size(), 2u);  // pieces as they came, not one buffered body

  // A consumer that stops after the first piece ends the call (Cancelled).
  AsyncRequest stop{.port = server.port(), .target = "/events"};
  int seen = 0;
  stop.on_body = [&](absl::string_view) { return ++seen < 1; };
  res = Call(client, stop);
  EXPECT_TRUE(absl::IsCancelled(res.status())) << res.status();
  EXPECT_EQ(seen, 1);
}

}  // namespace
}  // namespace net
}  // namespace gonka
