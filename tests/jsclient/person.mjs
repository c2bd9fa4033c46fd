// A person on matrix-js-sdk with its Rust crypto (what Element runs), remote-controlled:
// one JSON command per line on stdin ({"id", "cmd", ...arguments}), one JSON answer per
// command on stdout ({"id", "ok": true, "result"} or {"id", "ok": false, "error"}), and
// what the person sees happen (a verification request, the emoji, the outcome) as
// {"event": ...} lines in between. stdout carries nothing else: the SDK's own logging
// goes to stderr. Started by person.py: `node person.mjs HOMESERVER_URL`.
//
// The crypto store is in memory (useIndexedDB: false): every login is a new device with
// new keys, as a fresh Element session in a new browser is.

for (const level of ["log", "info", "debug", "warn", "trace"]) console[level] = console.error;

// matrix-js-sdk 43 asks for Node 22. Debian bookworm's nodejs is 18 (and a NodeSource
// one may be 20); what the SDK uses of the newer ones is given here, as specified:
// Promise.withResolvers (ES2024, Node 22) and the Web Crypto global (Node 19+).
Promise.withResolvers ??= function withResolvers() {
  let resolve, reject;
  const promise = new this((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
};
globalThis.crypto ??= (await import("node:crypto")).webcrypto;

const sdk = await import("matrix-js-sdk");
const capi = await import("matrix-js-sdk/lib/crypto-api/index.js");
const { CryptoEvent, VerificationPhase, VerificationRequestEvent, VerifierEvent, decodeRecoveryKey } = capi;

const baseUrl = process.argv[2];
let client = null;
let password = null;
let secretStorageKey = null; // [keyId, private key]: the recovery key, once known
let verification = null; // the one verification this person is in: {request, sas, ...}

function emit(line) {
  process.stdout.write(JSON.stringify(line) + "\n");
}

const phaseName = (phase) => VerificationPhase[phase] ?? String(phase);

function crypto() {
  if (!client) throw new Error("not logged in");
  return client.getCrypto();
}

// Runs the SAS of a verifier once (whichever side started it): the emoji and decimals
// when they show, and the MAC exchange once both sides confirm.
function runVerifier(v, verifier) {
  if (v.verifying) return;
  verifier.on(VerifierEvent.ShowSas, (sas) => {
    v.sas = sas;
    v.emoji = sas.sas.emoji ?? null; // seven [emoji, name] pairs
    v.decimals = sas.sas.decimal ?? null;
    emit({ event: "sas", emoji: v.emoji, decimals: v.decimals });
  });
  v.verifying = verifier.verify().catch((e) => emit({ event: "verifier_error", error: String(e) }));
}

// Follows one verification request: its phase changes, the SAS once a side starts it
// (the other side's start is answered by verifying too), and the outcome.
function follow(request) {
  const v = { request, emoji: null, decimals: null, sas: null, verifying: null };
  verification = v;
  const changed = () => {
    emit({ event: "verification_phase", phase: phaseName(request.phase),
           cancel_code: request.cancellationCode ?? null });
    if (request.verifier) runVerifier(v, request.verifier);
  };
  request.on(VerificationRequestEvent.Change, changed);
  changed();
  return v;
}

function verificationState() {
  if (!verification) return { phase: null };
  const r = verification.request;
  return {
    phase: phaseName(r.phase),
    cancel_code: r.cancellationCode ?? null,
    other_user: r.otherUserId,
    other_device: r.otherDeviceId ?? null,
    in_room: r.roomId ?? null,
    initiated_by_me: r.initiatedByMe,
    emoji: verification.emoji,
    decimals: verification.decimals,
  };
}

async function waitForSync(c) {
  await new Promise((resolve, reject) => {
    const onSync = (state) => {
      if (state === "PREPARED" || state === "SYNCING") { c.off(sdk.ClientEvent.Sync, onSync); resolve(); }
      else if (state === "ERROR") { c.off(sdk.ClientEvent.Sync, onSync); reject(new Error("first sync failed")); }
    };
    c.on(sdk.ClientEvent.Sync, onSync);
  });
}

// Element's uiAuthCallback when it knows the password (just after a login): the
// cross-signing upload is authenticated with m.login.password.
function passwordAuth(makeRequest) {
  return makeRequest({
    type: "m.login.password",
    identifier: { type: "m.id.user", user: client.getSafeUserId() },
    password,
  });
}

function textsOf(roomId) {
  const room = client.getRoom(roomId);
  if (!room) return [];
  return room.getLiveTimeline().getEvents().filter((e) => e.getType() === "m.room.message" || e.isEncrypted())
    .map((e) => ({
      event_id: e.getId(), sender: e.getSender(), type: e.getType(), encrypted: e.isEncrypted(),
      decryption_failed: e.isDecryptionFailure(),
      body: e.isDecryptionFailure() ? null : e.getContent()?.body ?? null,
    }));
}

const commands = {
  async login({ user, password: pw, device_name }) {
    const bare = sdk.createClient({ baseUrl });
    const session = await bare.loginRequest({
      type: "m.login.password", identifier: { type: "m.id.user", user }, password: pw,
      initial_device_display_name: device_name ?? "js-sdk person",
    });
    password = pw;
    client = sdk.createClient({
      baseUrl, userId: session.user_id, deviceId: session.device_id, accessToken: session.access_token,
      cryptoCallbacks: {
        // The recovery key, when it is one of the keys asked for.
        getSecretStorageKey: async ({ keys }) =>
          secretStorageKey && keys[secretStorageKey[0]] ? secretStorageKey : null,
        cacheSecretStorageKey: (keyId, _info, key) => { secretStorageKey = [keyId, key]; },
      },
    });
    await client.initRustCrypto({ useIndexedDB: false });
    client.on(CryptoEvent.VerificationRequestReceived, (request) => {
      emit({ event: "verification_request", from_user: request.otherUserId,
             from_device: request.otherDeviceId ?? null, room_id: request.roomId ?? null });
      follow(request);
    });
    const synced = waitForSync(client);
    await client.startClient({ initialSyncLimit: 50, lazyLoadMembers: true });
    await synced;
    return { user_id: session.user_id, device_id: session.device_id };
  },

  // Cross-signing, secret storage and key backup as Element sets them up ("Set up secure
  // backup" with a generated recovery key): the recovery key is returned as Element shows it.
  async bootstrap() {
    const c = crypto();
    const generated = await c.createRecoveryKeyFromPassphrase();
    await c.bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordAuth });
    await c.bootstrapSecretStorage({
      createSecretStorageKey: async () => generated,
      setupNewSecretStorage: true,
      setupNewKeyBackup: true,
    });
    return { recovery_key: generated.encodedPrivateKey };
  },

  async cross_signing() {
    const c = crypto();
    return {
      ready: await c.isCrossSigningReady(),
      secret_storage_ready: await c.isSecretStorageReady(),
      status: await c.getCrossSigningStatus(),
    };
  },

  async create_dm({ user }) {
    const { room_id } = await client.createRoom({
      invite: [user], is_direct: true, preset: "trusted_private_chat",
      initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }],
    });
    const direct = client.getAccountData("m.direct")?.getContent() ?? {};
    await client.setAccountData("m.direct", { ...direct, [user]: [...(direct[user] ?? []), room_id] });
    return { room_id };
  },

  async join({ room }) {
    const joined = await client.joinRoom(room);
    return { room_id: joined.roomId };
  },

  async room_members({ room }) {
    const r = client.getRoom(room);
    return { joined: r ? r.getJoinedMembers().map((m) => m.userId) : [] };
  },

  async send_text({ room, text }) {
    const { event_id } = await client.sendTextMessage(room, text);
    return { event_id };
  },

  async texts({ room }) {
    return { texts: textsOf(room) };
  },

  async request_verification({ user, device, room }) {
    const c = crypto();
    let request;
    if (room) request = await c.requestVerificationDM(user, room);
    else if (device) request = await c.requestDeviceVerification(user, device);
    else throw new Error("request_verification needs a device or a room");
    follow(request);
    return verificationState();
  },

  async accept_verification() {
    if (!verification) throw new Error("no verification request");
    await verification.request.accept();
    return verificationState();
  },

  async start_sas() {
    if (!verification) throw new Error("no verification request");
    runVerifier(verification, await verification.request.startVerification("m.sas.v1"));
    return verificationState();
  },

  async verification() {
    return verificationState();
  },

  async confirm() {
    if (!verification?.sas) throw new Error("no emoji shown yet");
    await verification.sas.confirm();
    return verificationState();
  },

  async mismatch() {
    if (!verification?.sas) throw new Error("no emoji shown yet");
    verification.sas.mismatch();
    return verificationState();
  },

  async device_verified({ user, device }) {
    const status = await crypto().getDeviceVerificationStatus(user, device);
    if (!status) return { known: false };
    return { known: true, verified: status.isVerified(), cross_signing_verified: status.crossSigningVerified,
             locally_verified: status.localVerified, signed_by_owner: status.signedByOwner };
  },

  async user_verified({ user }) {
    const status = await crypto().getUserVerificationStatus(user);
    return { verified: status.isVerified(), cross_signing_verified: status.isCrossSigningVerified() };
  },

  // The server's current backup (the SDK's getKeyBackupInfo answers from a cache), and
  // the version this device backs up to.
  async backup_info() {
    let info = null;
    try {
      info = await client.http.authedRequest(sdk.Method.Get, "/room_keys/version");
    } catch (e) {
      if (e?.errcode !== "M_NOT_FOUND") throw e;
    }
    const sessions = {}; // room id -> the Megolm session ids backed up for it
    if (info) {
      const keys = await client.http.authedRequest(sdk.Method.Get, "/room_keys/keys", { version: info.version });
      for (const [roomId, room] of Object.entries(keys.rooms ?? {})) sessions[roomId] = Object.keys(room.sessions ?? {});
    }
    return {
      version: info?.version ?? null, count: info?.count ?? null, algorithm: info?.algorithm ?? null,
      active_version: await crypto().getActiveSessionBackupVersion(), sessions,
    };
  },

  // Element's "Verify with recovery key" on a new device: the recovery key opens secret
  // storage, the cross-signing keys from there sign this device, the backup key from
  // there enables the backup, and the backup is restored. Like Element's
  // SetupEncryptionStore, it first brings its view of its own identity up to date: the
  // keys from secret storage are checked against it.
  async restore_backup({ recovery_key }) {
    const c = crypto();
    if (!(await c.userHasCrossSigningKeys(client.getSafeUserId(), true))) {
      throw new Error("this account has no cross-signing keys");
    }
    const keyId = await client.secretStorage.getDefaultKeyId();
    secretStorageKey = [keyId, decodeRecoveryKey(recovery_key)];
    await c.bootstrapCrossSigning({ authUploadDeviceSigningKeys: passwordAuth });
    await c.loadSessionBackupPrivateKeyFromSecretStorage();
    await c.checkKeyBackupAndEnable();
    const restored = await c.restoreKeyBackup();
    return { total: restored.total, imported: restored.imported };
  },
};

async function handle(line) {
  let id = null;
  try {
    const command = JSON.parse(line);
    id = command.id ?? null;
    const run = commands[command.cmd];
    if (!run) throw new Error(`unknown command ${command.cmd}`);
    emit({ id, ok: true, result: (await run(command)) ?? {} });
  } catch (e) {
    emit({ id, ok: false, error: `${e?.name ?? "Error"}: ${e?.message ?? e}`, errcode: e?.errcode ?? null });
  }
}

// Commands run one after the other, in the order they came.
let queue = Promise.resolve();
let pending = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  pending += chunk;
  let nl;
  while ((nl = pending.indexOf("\n")) >= 0) {
    const line = pending.slice(0, nl).trim();
    pending = pending.slice(nl + 1);
    if (line) queue = queue.then(() => handle(line));
  }
});
// The parent is gone (stdin closed): so is the person.
process.stdin.on("end", () => { client?.stopClient(); process.exit(0); });
