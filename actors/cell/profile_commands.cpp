// The gateway commands users know from Hermes (/help, /status, /new, /stop,
// /sethome, /profile, /whoami, /retry), answered by the profile actor itself:
// they bypass the mention requirement and the busy queue.

#include "actors/cell/profile_cell_state.hpp"

#include "hm/version.hpp"
#include "profiles/dotenv.hpp"
#include "profiles/session_key.hpp"

#include <chrono>

namespace hm {

namespace {

std::string uptime_text(caf::timestamp since) {
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(caf::make_timestamp() - since)
                .count();
  auto h = secs / 3600;
  auto m = (secs % 3600) / 60;
  return std::to_string(h) + "h " + std::to_string(m) + "m";
}

const char* help_text =
  "Commands (also with ! instead of /):\n"
  "/help — this list\n"
  "/status — profile, model, conversation and uptime\n"
  "/new (or /reset) — start a new conversation\n"
  "/stop — stop the answer being written and drop waiting messages\n"
  "/sethome — make this room the profile's home room (notifications, cron output)\n"
  "/profile — which Hermes profile answers here\n"
  "/whoami — who the bot is and who you are to it\n"
  "/retry — answer your last message again\n"
  "/approve (session, always) or /deny — answer the agent's request to run a command";

} // namespace

std::optional<journal_outcome> run_command(profile_cell_pointer self, const profiles::command& cmd,
                        const profiles::room_facts& room, const profiles::incoming_message& msg) {
  auto& st = self->state;
  auto thread = profiles::conversation_thread(st.config, room, msg);
  auto key = profiles::session_key(st.config.name, room, msg, thread);
  auto target = profiles::reply_to(msg, thread);
  auto reply = [&](const std::string& text) {
    reply_in_room(self, room.room_id, msg.event_id, target.thread_root, "command", text);
  };
  auto model = st.config.agent_model.empty() ? st.config.name : st.config.agent_model;
  switch (cmd.name) {
    case profiles::command_name::help:
      reply(help_text);
      break;
    case profiles::command_name::status: {
      auto waiting = st.in_progress.size() > 0 ? st.in_progress.size() - 1 : 0;
      reply("Profile: " + st.config.name + "\nModel: " + model
            + "\nConversation: " + profiles::session_id(st.config.name, key)
            + "\nMessages in progress: " + std::to_string(waiting)
            + "\nUptime: " + uptime_text(st.started) + "\nhermes-matrix " + hm::version);
      break;
    }
    case profiles::command_name::new_session:
      if (auto i = st.sessions.find(key); i != st.sessions.end())
        self->send(i->second, atom::reset_v);
      st.last_turns.erase(key);
      reply("Started a new conversation.");
      break;
    case profiles::command_name::stop:
      if (auto i = st.sessions.find(key); i != st.sessions.end())
        self->send(i->second, atom::stop_v);
      reply("Stopped.");
      break;
    case profiles::command_name::sethome: {
      if (auto written = profiles::write_dotenv_key(st.config.env_file, "MATRIX_HOME_ROOM",
                                                    room.room_id);
          !written) {
        st.log->error("/sethome: {}", written.error().message);
        reply("Could not save the home room: " + written.error().message);
        break;
      }
      st.config.home_room = room.room_id;
      st.log->info("home room is now {} (written to {})", room.room_id,
                   st.config.env_file.string());
      reply("This room is now the home room of " + st.config.name + ".");
      break;
    }
    case profiles::command_name::profile:
      reply("Hermes profile: " + st.config.name + "\nModel: " + model + "\nEncryption: "
            + profiles::to_string(st.config.e2ee));
      break;
    case profiles::command_name::whoami:
      reply("I am " + st.bot.user_id + " (device " + st.device_id + "), the Hermes profile "
            + st.config.name + ".\nYou are " + msg.sender + ".");
      break;
    case profiles::command_name::approve:
    case profiles::command_name::deny: {
      auto choice = profiles::approval_choice_of_command(cmd);
      if (!choice) {
        reply("Answer with /approve, /approve session, /approve always or /deny.");
        break;
      }
      auto i = st.sessions.find(key);
      if (i == st.sessions.end()) {
        reply("Nothing is waiting for approval in this conversation.");
        break;
      }
      // The session answers in the room (it knows whether anything is pending).
      self->send(i->second,
                 approval_answer{room.room_id, msg.event_id, "", *choice, msg.sender});
      break;
    }
    case profiles::command_name::retry: {
      auto last = st.last_turns.find(key);
      if (last == st.last_turns.end()) {
        reply("There is nothing to retry in this conversation yet.");
        break;
      }
      // The retry is a turn of its own: its replies derive from the /retry
      // message, so they are new messages, not deduplicated resends.
      auto turn = last->second.turn;
      turn.event_id = msg.event_id;
      turn.in_reply_to = msg.event_id;
      turn.run.clear(); // a new run, not the old one followed
      self->send(session_for(self, key), std::move(turn));
      return {}; // the turn finishes the journal entry
    }
  }
  return journal_outcome::command(profiles::to_string(cmd.name));
}

} // namespace hm
