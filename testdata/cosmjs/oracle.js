#!/usr/bin/env node
// CosmJS oracle for libgonka's signing tests. Everything here is built and signed by CosmJS
// (@cosmjs/proto-signing, @cosmjs/crypto, @cosmjs/encoding, @cosmjs/amino, cosmjs-types).
//
//   node oracle.js vectors                 fixed vectors (committed as vectors/vectors.json)
//   node oracle.js random <seed> <count>   <count> random txs from a seeded PRNG, one JSON document
//   node oracle.js bench <iterations>      CosmJS signing rate for libgonka's benchmark tx shape
//
// A tx "spec" is the same JSON the C++ side builds from; "expected" holds CosmJS's bytes (hex).
"use strict";

const { Bip39, EnglishMnemonic, Secp256k1, Slip10, Slip10Curve, stringToPath, sha256 } =
  require("@cosmjs/crypto");
const { toHex, fromHex, toBech32, fromBase64 } = require("@cosmjs/encoding");
const { encodeSecp256k1Pubkey, rawSecp256k1PubkeyToRawAddress } = require("@cosmjs/amino");
const { DirectSecp256k1Wallet, encodePubkey, makeAuthInfoBytes, makeSignDoc, makeSignBytes } =
  require("@cosmjs/proto-signing");
const { TxBody, TxRaw } = require("cosmjs-types/cosmos/tx/v1beta1/tx");
const { MsgSend } = require("cosmjs-types/cosmos/bank/v1beta1/tx");
const { MsgExec, MsgGrant } = require("cosmjs-types/cosmos/authz/v1beta1/tx");
const { GenericAuthorization } = require("cosmjs-types/cosmos/authz/v1beta1/authz");
const { MsgGrantAllowance } = require("cosmjs-types/cosmos/feegrant/v1beta1/tx");
const { BasicAllowance, AllowedMsgAllowance } =
  require("cosmjs-types/cosmos/feegrant/v1beta1/feegrant");

function any(typeUrl, value) {
  return { typeUrl, value };
}

function ts(t) {
  return t == null ? undefined : { seconds: BigInt(t.seconds), nanos: t.nanos };
}

function encodeMessage(m) {
  switch (m.type) {
    case "send":
      return any("/cosmos.bank.v1beta1.MsgSend",
        MsgSend.encode(MsgSend.fromPartial({ fromAddress: m.from, toAddress: m.to,
                                             amount: m.amount })).finish());
    case "grant_generic":
      return any("/cosmos.authz.v1beta1.MsgGrant", MsgGrant.encode(MsgGrant.fromPartial({
        granter: m.granter, grantee: m.grantee,
        grant: {
          authorization: any("/cosmos.authz.v1beta1.GenericAuthorization",
            GenericAuthorization.encode({ msg: m.msg }).finish()),
          expiration: ts(m.expiration),
        },
      })).finish());
    case "grant_allowance": {
      const basic = any("/cosmos.feegrant.v1beta1.BasicAllowance", BasicAllowance.encode(
        BasicAllowance.fromPartial({ spendLimit: m.spend_limit,
                                     expiration: ts(m.expiration) })).finish());
      // Same convention as libgonka's MakeFeeAllowance: no allowed-message list = plain basic.
      const allowed = m.allowed_messages.length === 0 ? basic : any(
        "/cosmos.feegrant.v1beta1.AllowedMsgAllowance",
        AllowedMsgAllowance.encode(AllowedMsgAllowance.fromPartial({
          allowance: basic, allowedMessages: m.allowed_messages })).finish());
      return any("/cosmos.feegrant.v1beta1.MsgGrantAllowance", MsgGrantAllowance.encode(
        MsgGrantAllowance.fromPartial({ granter: m.granter, grantee: m.grantee,
                                        allowance: allowed })).finish());
    }
    default:
      throw new Error("unknown message type " + m.type);
  }
}

// Builds and signs `spec` with CosmJS; returns the hex bytes of every stage.
async function signSpec(spec) {
  const wallet = await DirectSecp256k1Wallet.fromKey(fromHex(spec.key_hex), spec.prefix);
  const [account] = await wallet.getAccounts();
  let messages = spec.messages.map(encodeMessage);
  if (spec.exec_grantee) {
    messages = [any("/cosmos.authz.v1beta1.MsgExec", MsgExec.encode(MsgExec.fromPartial({
      grantee: spec.exec_grantee, msgs: messages })).finish())];
  }
  const bodyBytes = TxBody.encode(TxBody.fromPartial({
    messages, memo: spec.memo, timeoutHeight: BigInt(spec.timeout_height),
    unordered: spec.unordered, timeoutTimestamp: ts(spec.timeout_timestamp),
  })).finish();
  const pubkey = encodePubkey(encodeSecp256k1Pubkey(account.pubkey));
  const authInfoBytes = makeAuthInfoBytes(
    [{ pubkey, sequence: BigInt(spec.sequence) }], spec.fee.amount, Number(spec.fee.gas_limit),
    spec.fee.granter || undefined, spec.fee.payer || undefined);
  const signDoc = makeSignDoc(bodyBytes, authInfoBytes, spec.chain_id,
                              BigInt(spec.account_number));
  const { signature } = await wallet.signDirect(account.address, signDoc);
  const sig = fromBase64(signature.signature);
  const txRaw = TxRaw.encode(TxRaw.fromPartial({ bodyBytes, authInfoBytes,
                                                 signatures: [sig] })).finish();
  return {
    address: account.address,
    body_bytes: toHex(bodyBytes),
    auth_info_bytes: toHex(authInfoBytes),
    sign_bytes: toHex(makeSignBytes(signDoc)),
    signature: toHex(sig),
    tx_raw: toHex(txRaw),
    hash: toHex(sha256(txRaw)).toUpperCase(),
  };
}

async function keyVector(name, mnemonic, path, prefix) {
  const seed = await Bip39.mnemonicToSeed(new EnglishMnemonic(mnemonic));
  const { privkey } = Slip10.derivePath(Slip10Curve.Secp256k1, seed, stringToPath(path));
  const { pubkey } = await Secp256k1.makeKeypair(privkey);
  const compressed = Secp256k1.compressPubkey(pubkey);
  return {
    name, mnemonic, hd_path: path, prefix,
    seed: toHex(seed), private_key: toHex(privkey), public_key: toHex(compressed),
    address: toBech32(prefix, rawSecp256k1PubkeyToRawAddress(compressed)),
  };
}

const MNEMONIC_A =
  "special sign fit simple patrol salute grocery chicken wheat radar tonight ceiling";
const MNEMONIC_B =
  "oyster design unusual machine spread century engine gravity focus cave carry slot";
const MNEMONIC_C = "economy stock theory fatal elder harbor betray wasp final emotion task " +
  "crumble siren bottom lizard educate guess current outdoor pair theory focus wife stone";
const MNEMONIC_ZERO = "abandon abandon abandon abandon abandon abandon abandon abandon abandon " +
  "abandon abandon about";
const FAUCET = "cosmos1pkptre7fdkl6gfrzlesjjvhxhlc3r4gmmk8rs6";
const RECIPIENT = "cosmos1qypqxpq9qcrsszg2pvxq6rs0zqg3yyc5lzv7xu";
const GRANTER = "cosmos1jhg0e7s6gn44tfc5k37kr04sznyhedtc9rzys5";
const FAUCET_KEY = "e16ee698b4a4ee03566d7dd9bb6f0e8a2dda802527ba56205f5767c0049fa0b9";

function baseSpec(overrides) {
  return Object.assign({
    key_hex: FAUCET_KEY, prefix: "cosmos", chain_id: "simd-testing", account_number: "1",
    sequence: "0", memo: "", timeout_height: "0", unordered: false, timeout_timestamp: null,
    exec_grantee: "",
    messages: [{ type: "send", from: FAUCET, to: RECIPIENT,
                 amount: [{ denom: "ucosm", amount: "1234567" }] }],
    fee: { amount: [{ denom: "ucosm", amount: "2000" }], gas_limit: "200000", payer: "",
           granter: "" },
  }, overrides);
}

async function fixedVectors() {
  const keys = [
    await keyVector("A cosmoshub", MNEMONIC_A, "m/44'/118'/0'/0/0", "cosmos"),
    await keyVector("B cosmoshub", MNEMONIC_B, "m/44'/118'/0'/0/0", "cosmos"),
    await keyVector("C cosmoshub", MNEMONIC_C, "m/44'/118'/0'/0/0", "cosmos"),
    await keyVector("A gonka", MNEMONIC_A, "m/44'/1200'/0'/0/0", "gonka"),
    await keyVector("B gonka", MNEMONIC_B, "m/44'/1200'/0'/0/0", "gonka"),
    await keyVector("C gonka", MNEMONIC_C, "m/44'/1200'/0'/0/0", "gonka"),
    await keyVector("zero gonka", MNEMONIC_ZERO, "m/44'/1200'/0'/0/0", "gonka"),
    await keyVector("C gonka account 1", MNEMONIC_C, "m/44'/1200'/0'/0/1", "gonka"),
    await keyVector("C wasm 2", MNEMONIC_C, "m/44'/118'/0'/0/2", "wasm"),
    await keyVector("C gonka hardened tail", MNEMONIC_C, "m/44'/1200'/3'/1/7'", "gonka"),
  ];
  const gonkaKey = keys[5];
  const gonkaGrantee = keys[3];
  const unorderedTimeout = { seconds: "1735689600", nanos: 1 };
  const specs = [
    ["sequenced send seq 0 (cosmjs published)", baseSpec({})],
    ["sequenced send seq 1 (cosmjs published)", baseSpec({ sequence: "1" })],
    ["sequenced send seq 2 (cosmjs published)", baseSpec({ sequence: "2" })],
    ["unordered send", baseSpec({ unordered: true, timeout_timestamp: unorderedTimeout })],
    ["msgexec + fee granter + memo", baseSpec({
      sequence: "3", memo: "authz+feegrant", exec_grantee: FAUCET,
      messages: [{ type: "send", from: GRANTER, to: RECIPIENT,
                   amount: [{ denom: "ucosm", amount: "1000" }] }],
      fee: { amount: [{ denom: "ucosm", amount: "5000" }], gas_limit: "250000", payer: "",
             granter: GRANTER } })],
    ["gonka node shape: unordered msgexec, empty fee, gas 1e9", baseSpec({
      key_hex: gonkaGrantee.private_key, prefix: "gonka", chain_id: "gonka-mainnet",
      account_number: "42", unordered: true,
      timeout_timestamp: { seconds: "1767225660", nanos: 123456789 },
      exec_grantee: gonkaGrantee.address,
      messages: [{ type: "send", from: gonkaKey.address, to: gonkaGrantee.address,
                   amount: [{ denom: "ngonka", amount: "1000000000" }] }],
      fee: { amount: [], gas_limit: "1000000000", payer: "", granter: "" } })],
    ["fee payer", baseSpec({ sequence: "9", fee: { amount: [{ denom: "ucosm", amount: "1" }],
      gas_limit: "1", payer: FAUCET, granter: "" } })],
    ["fee payer and granter", baseSpec({ fee: { amount: [{ denom: "ucosm", amount: "77" }],
      gas_limit: "123456", payer: FAUCET, granter: GRANTER } })],
    ["timeout height", baseSpec({ timeout_height: "18446744073709551615", sequence: "5" })],
    ["ordered with timeout timestamp", baseSpec({ sequence: "4",
      timeout_timestamp: { seconds: "1900000000", nanos: 0 } })],
    ["account number 0, no fee coins, gas 0", baseSpec({ account_number: "0",
      fee: { amount: [], gas_limit: "0", payer: "", granter: "" } })],
    ["huge account number and sequence", baseSpec({ account_number: "18446744073709551615",
      sequence: "18446744073709551614" })],
    ["unicode memo", baseSpec({ memo: "gonka \u00e9\u4e2d\u6587 \ud83d\ude80 \"quoted\" \\ end" })],
    ["several messages and fee coins", baseSpec({
      messages: [
        { type: "send", from: FAUCET, to: RECIPIENT,
          amount: [{ denom: "atom", amount: "1" }, { denom: "ucosm", amount: "2" }] },
        { type: "send", from: FAUCET, to: GRANTER, amount: [] },
        { type: "send", from: FAUCET, to: RECIPIENT,
          amount: [{ denom: "ibc/27394FB092D2ECCD56123C74F36E4C1F926001CEADA9CA97EA622B25F41E5EB2",
                     amount: "340282366920938463463374607431768211455" }] }],
      fee: { amount: [{ denom: "atom", amount: "3" }, { denom: "ucosm", amount: "4" }],
             gas_limit: "300000", payer: "", granter: "" } })],
    ["msggrant generic authorization", baseSpec({ messages: [{ type: "grant_generic",
      granter: GRANTER, grantee: FAUCET, msg: "/cosmos.bank.v1beta1.MsgSend",
      expiration: null }] })],
    ["msggrant with expiration", baseSpec({ messages: [{ type: "grant_generic",
      granter: GRANTER, grantee: FAUCET, msg: "/inference.inference.MsgStartInference",
      expiration: { seconds: "1798761600", nanos: 500 } }] })],
    ["msggrantallowance allowed-msg basic", baseSpec({ messages: [{ type: "grant_allowance",
      granter: GRANTER, grantee: FAUCET, spend_limit: [{ denom: "ucosm", amount: "100000" }],
      allowed_messages: ["/cosmos.authz.v1beta1.MsgExec"], expiration: null }] })],
    ["unordered msgexec of grant + sends with granter", baseSpec({
      unordered: true, timeout_timestamp: { seconds: "1735689660", nanos: 999999999 },
      exec_grantee: FAUCET, memo: "batch",
      messages: [
        { type: "send", from: GRANTER, to: RECIPIENT, amount: [{ denom: "ucosm", amount: "5" }] },
        { type: "grant_generic", granter: GRANTER, grantee: RECIPIENT, msg: "/x.y.MsgZ",
          expiration: null }],
      fee: { amount: [], gas_limit: "500000", payer: "", granter: GRANTER } })],
  ];
  const txs = [];
  for (const [name, spec] of specs) {
    txs.push({ name, spec, expected: await signSpec(spec) });
  }
  return { generator: "testdata/cosmjs/oracle.js vectors",
           cosmjs: require("./package.json").dependencies["@cosmjs/proto-signing"], keys, txs };
}

// splitmix64 over BigInt: a small, seeded, portable PRNG.
function makeRng(seed) {
  let state = BigInt.asUintN(64, BigInt(seed));
  const next = () => {
    state = BigInt.asUintN(64, state + 0x9E3779B97F4A7C15n);
    let z = state;
    z = BigInt.asUintN(64, (z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n);
    z = BigInt.asUintN(64, (z ^ (z >> 27n)) * 0x94D049BB133111EBn);
    return z ^ (z >> 31n);
  };
  const int = (n) => Number(next() % BigInt(n));
  return {
    u64: next, int,
    bool: () => int(2) === 1,
    bytes: (n) => Uint8Array.from({ length: n }, () => int(256)),
    pick: (a) => a[int(a.length)],
  };
}

function randomSpec(rng) {
  const alnum = "abcdefghijklmnopqrstuvwxyz0123456789";
  const prefix = rng.pick(["gonka", "cosmos", "wasm"]);
  const address = () => toBech32(prefix, rng.bytes(rng.int(4) === 0 ? 32 : 20));
  const denom = () => {
    if (rng.int(6) === 0) return "ibc/" + toHex(rng.bytes(32)).toUpperCase();
    let d = "abcdefghijklmnopqrstuvwxyz"[rng.int(26)];
    const len = 2 + rng.int(10);
    for (let i = 0; i < len; i++) d += alnum[rng.int(alnum.length)];
    return d;
  };
  const amount = () => {
    const digits = 1 + rng.int(rng.int(5) === 0 ? 40 : 12);
    let a = "123456789"[rng.int(9)];
    for (let i = 1; i < digits; i++) a += "0123456789"[rng.int(10)];
    return a;
  };
  const coins = (max) => {
    const set = new Map();
    const n = rng.int(max + 1);
    for (let i = 0; i < n; i++) set.set(denom(), amount());
    return [...set.keys()].sort().map((d) => ({ denom: d, amount: set.get(d) }));
  };
  const timestamp = () => ({ seconds: (1600000000n + rng.u64() % 400000000n).toString(),
                             nanos: rng.int(3) === 0 ? 0 : rng.int(1000000000) });
  const memo = () => {
    const chars = ["a", "Z", "0", " ", "+", "\"", "\\", "\n", "\u00e9", "\u4e2d", "\ud83d\ude80"];
    let s = "";
    const len = rng.int(4) === 0 ? 0 : rng.int(rng.int(8) === 0 ? 256 : 32);
    for (let i = 0; i < len; i++) s += rng.pick(chars);
    return s;
  };
  const message = () => {
    switch (rng.int(5)) {
      case 3:
        return { type: "grant_generic", granter: address(), grantee: address(),
                 msg: "/" + rng.pick(["cosmos.bank.v1beta1.MsgSend",
                                      "inference.inference.MsgFinishInference"]),
                 expiration: rng.bool() ? null : timestamp() };
      case 4:
        return { type: "grant_allowance", granter: address(), grantee: address(),
                 spend_limit: coins(2), allowed_messages: rng.bool() ? [] :
                   ["/cosmos.authz.v1beta1.MsgExec", "/cosmos.bank.v1beta1.MsgSend"]
                     .slice(0, 1 + rng.int(2)),
                 expiration: rng.bool() ? null : timestamp() };
      default:
        return { type: "send", from: address(), to: address(), amount: coins(3) };
    }
  };
  let key;
  do { key = rng.bytes(32); } while (key.every((b) => b === 0));
  const unordered = rng.bool();
  const nmsgs = 1 + rng.int(3);
  const big = () => (rng.int(5) === 0 ? rng.u64() : BigInt(rng.int(100000))).toString();
  return {
    key_hex: toHex(key), prefix, chain_id: rng.pick(["gonka-mainnet", "prod-sim", "simd-testing",
                                                     "c-" + rng.int(1000)]),
    account_number: rng.int(8) === 0 ? "0" : big(),
    sequence: unordered || rng.int(6) === 0 ? "0" : big(),
    memo: memo(),
    timeout_height: rng.int(3) === 0 ? big() : "0",
    unordered,
    timeout_timestamp: unordered || rng.int(4) === 0 ? timestamp() : null,
    exec_grantee: rng.bool() ? address() : "",
    messages: Array.from({ length: nmsgs }, message),
    // makeAuthInfoBytes takes gasLimit as a JS number, so CosmJS can only express gas < 2^53.
    fee: { amount: coins(3), gas_limit: (rng.int(5) === 0 ? rng.u64() % (1n << 53n)
                                          : BigInt(rng.int(2000000000))).toString(), payer: rng.int(4) === 0 ? address() : "",
           granter: rng.int(3) === 0 ? address() : "" },
  };
}

async function randomVectors(seed, count) {
  const rng = makeRng(seed);
  const txs = [];
  for (let i = 0; i < count; i++) {
    const spec = randomSpec(rng);
    txs.push({ name: "random " + i, spec, expected: await signSpec(spec) });
  }
  return { generator: `testdata/cosmjs/oracle.js random ${seed} ${count}`, keys: [], txs };
}

async function bench(iterations) {
  const spec = JSON.parse(JSON.stringify((await fixedVectors()).txs[5].spec));
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    spec.timeout_timestamp.nanos = i;  // a distinct tx each time, as the node sends
    await signSpec(spec);
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { iterations, seconds, txs_per_second: iterations / seconds };
}

async function main() {
  const [mode, a, b] = process.argv.slice(2);
  let out;
  if (mode === "vectors") out = await fixedVectors();
  else if (mode === "random") out = await randomVectors(a, Number(b));
  else if (mode === "bench") out = await bench(Number(a || 300));
  else throw new Error("usage: oracle.js vectors | random <seed> <count> | bench <iterations>");
  process.stdout.write(JSON.stringify(out, null, 1) + "\n");
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + "\n");
  process.exit(1);
});
