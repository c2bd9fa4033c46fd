#include "actors/node/cluster_door.hpp"

#include "cluster/peer_screen.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/doorman_impl.hpp>
#include <caf/io/network/native_socket.hpp>
#include <caf/io/network/scribe_impl.hpp>
#include <caf/send.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <vector>

namespace hm {

namespace {

using caf::io::network::default_multiplexer;
using caf::io::network::native_socket;
using clock_type = std::chrono::steady_clock;

class screened_scribe;

/// What the door shares with its connections. Everything here runs in the
/// multiplexer's thread (connections' callbacks and the posted sweep), so it
/// needs no lock.
struct door_state {
  explicit door_state(caf::timespan timeout) : handshake_timeout(timeout) {
  }

  void refused(const std::string& peer, const std::string& why) {
    if (auto line = log.admit(peer, why, clock_type::now()))
      spdlog::warn("{}", *line);
  }

  void forget(const screened_scribe* s) {
    waiting.erase(std::remove_if(waiting.begin(), waiting.end(),
                                 [s](auto& w) { return w.first.get() == s; }),
                  waiting.end());
  }

  void sweep();

  bad_peer_log log{20, std::chrono::seconds{3}};
  caf::timespan handshake_timeout;
  /// Connections that have not completed their handshake, since when.
  std::vector<std::pair<caf::intrusive_ptr<screened_scribe>, clock_type::time_point>> waiting;
};

std::string peer_of(native_socket fd) {
  auto addr = caf::io::network::remote_addr_of_fd(fd);
  auto port = caf::io::network::remote_port_of_fd(fd);
  if (!addr || !port)
    return "(unknown peer)";
  auto host = addr->find(':') == std::string::npos ? *addr : "[" + *addr + "]";
  return host + ":" + std::to_string(*port);
}

/// A connection of the cluster port: CAF's own, except that it checks what the
/// BASP broker is about to read and drops the connection instead.
class screened_scribe : public caf::io::network::scribe_impl {
public:
  screened_scribe(default_multiplexer& mx, native_socket fd, std::shared_ptr<door_state> door)
    : scribe_impl(mx, fd), door_(std::move(door)), peer_(peer_of(fd)) {
  }

  /// Bytes for the broker: the first header must be a client handshake.
  bool consume(caf::execution_unit* ctx, const void* buf, size_t size) override {
    if (refused_)
      return false;
    if (chunks_ == 0) {
      if (auto why = client_handshake_problem(buf, size); !why.empty()) {
        refuse(why);
        return false;
      }
    }
    if (++chunks_ > 2)
      spoke_ = true;
    auto more = scribe_impl::consume(ctx, buf, size);
    // The second chunk is the handshake's payload; CAF closes the connection
    // (graceful_shutdown below) if it refuses it.
    if (chunks_ == 2 && !refused_ && !detached()) {
      handshaken_ = true;
      door_->forget(this);
    }
    return more;
  }

  /// The broker sizes its next read from the header it got: bounded here,
  /// before the buffer is allocated.
  void configure_read(caf::io::receive_policy::config config) override {
    auto limit = handshaken_ ? max_cluster_message : max_handshake_payload;
    if (!refused_ && config.second > std::max(limit, basp_header_size)) {
      refuse("announced a message of " + std::to_string(config.second) + " bytes (at most "
             + std::to_string(limit) + ")");
      return;
    }
    scribe_impl::configure_read(config);
  }

  /// The broker closes the connection: it refused the handshake's payload, or
  /// its connection timeout struck first.
  void graceful_shutdown() override {
    if (!handshaken_ && !refused_ && !shutting_down()) {
      refused_ = true;
      door_->forget(this);
      door_->refused(peer_, chunks_ >= 2 ? "CAF refused its handshake (a malformed node id)"
                                         : "did not complete its handshake before the "
                                           "connection timeout");
    }
    scribe_impl::graceful_shutdown();
  }

  /// Dropped after a refusal or when the deadline passed.
  void refuse(const std::string& why) {
    if (refused_)
      return;
    refused_ = true;
    door_->forget(this);
    door_->refused(peer_, why);
    // Not now: this may run inside the broker's handler for this connection.
    caf::intrusive_ptr<screened_scribe> self{this};
    stream_.backend().post([self] { self->drop(); });
  }

protected:
  /// The peer hung up (or the socket failed).
  caf::message detach_message() override {
    if (!spoke_ && !refused_) {
      refused_ = true;
      door_->forget(this);
      door_->refused(peer_, hung_up_why());
    }
    return scribe_impl::detach_message();
  }

private:
  /// A CAF 0.17 node checks our app identifier only after it has sent its own
  /// handshake, and then hangs up without a message: that is all the coordinator
  /// ever sees of a node of another cluster protocol version.
  std::string hung_up_why() const {
    if (chunks_ == 0)
      return "hung up without answering our handshake (not a cluster node)";
    if (!handshaken_)
      return "hung up in the middle of its handshake";
    return "hung up right after the handshake, before any message: another cluster protocol "
           "version (its middleman refuses our app identifier), or not a hermes-matrix node";
  }

  bool shutting_down() {
    auto* broker = parent();
    return broker == nullptr
           || broker->getf(caf::abstract_actor::is_shutting_down_flag
                           | caf::abstract_actor::is_terminated_flag);
  }

  /// As a failed read would: the broker forgets the connection, the socket closes.
  void drop() {
    stream_.graceful_shutdown();
    if (!detached())
      io_failure(&stream_.backend(), caf::io::network::operation::read);
  }

  std::shared_ptr<door_state> door_;
  std::string peer_;
  size_t chunks_ = 0;
  bool handshaken_ = false; // its client handshake reached CAF's broker
  bool spoke_ = false;      // and at least one message after it
  bool refused_ = false;
};

void door_state::sweep() {
  auto now = clock_type::now();
  std::vector<caf::intrusive_ptr<screened_scribe>> late;
  for (auto& [scribe, since] : waiting)
    if (now - since > handshake_timeout)
      late.push_back(scribe);
  auto secs = std::chrono::duration_cast<std::chrono::milliseconds>(handshake_timeout).count()
              / 1000.0;
  for (auto& s : late)
    s->refuse(fmt::format("sent no handshake within {:g} s", secs));
  if (auto line = log.held_back(now))
    spdlog::warn("{}", *line);
}

/// CAF's acceptor, handing out screened connections.
class screened_doorman : public caf::io::network::doorman_impl {
public:
  screened_doorman(default_multiplexer& mx, native_socket fd, std::shared_ptr<door_state> door)
    : doorman_impl(mx, fd), door_(std::move(door)) {
  }

  bool new_connection() override {
    if (detached())
      return false;
    auto& mx = acceptor_.backend();
    auto conn = caf::make_counted<screened_scribe>(mx, acceptor_.accepted_socket(), door_);
    door_->waiting.emplace_back(conn, clock_type::now());
    auto hdl = conn->hdl();
    parent()->add_scribe(caf::io::scribe_ptr{conn.get()});
    return doorman::new_connection(&mx, hdl);
  }

private:
  std::shared_ptr<door_state> door_;
};

/// Posts the deadline sweep into the multiplexer once a second, for as long
/// as the published coordinator lives.
caf::behavior door_watch(caf::event_based_actor* self, default_multiplexer* mx,
                         std::shared_ptr<door_state> door, caf::actor_addr coordinator) {
  self->monitor(coordinator);
  self->set_down_handler([self](caf::down_msg&) { self->quit(); });
  self->send(self, caf::tick_atom::value);
  return {
    [=](caf::tick_atom) {
      mx->post([door] { door->sweep(); });
      self->delayed_send(self, std::chrono::seconds{1}, caf::tick_atom::value);
    },
  };
}

} // namespace

caf::expected<uint16_t> publish_behind_door(caf::actor_system& sys, const coordinator_actor& whom,
                                            uint16_t port, const std::string& host,
                                            caf::timespan handshake_timeout) {
  auto* mx = dynamic_cast<default_multiplexer*>(&sys.middleman().backend());
  if (mx == nullptr) // another network backend: CAF's own publishing, unscreened
    return sys.middleman().publish(whom, port, host.empty() ? nullptr : host.c_str(), true);
  auto fd = caf::io::network::new_tcp_acceptor_impl(port, host.empty() ? nullptr : host.c_str(),
                                                    true);
  if (!fd)
    return std::move(fd.error());
  auto door = std::make_shared<door_state>(handshake_timeout);
  auto doorman = caf::make_counted<screened_doorman>(*mx, *fd, door);
  auto actual = doorman->port();
  // What middleman::publish sends the BASP broker, with our doorman in it.
  auto broker = sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  caf::anon_send(broker, caf::publish_atom::value, caf::io::doorman_ptr{doorman.get()}, actual,
                 caf::actor_cast<caf::strong_actor_ptr>(whom),
                 sys.message_types<coordinator_actor>());
  sys.spawn(door_watch, mx, std::move(door), whom.address());
  return actual;
}

} // namespace hm
