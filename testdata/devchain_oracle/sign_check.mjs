// CosmJS signs and broadcasts against a running devchain, which must accept what a real Cosmos
// chain accepts and reject what it rejects, with the same codes.
// Usage: node sign_check.mjs http://127.0.0.1:PORT CHAIN_ID "MNEMONIC A" "MNEMONIC C"
// (A and C funded in genesis with ngonka.) Prints "ok <check>" per check; exits 1 on failure.
import { stringToPath } from "@cosmjs/crypto";
import { DirectSecp256k1HdWallet } from "@cosmjs/proto-signing";
import { SigningStargateClient } from "@cosmjs/stargate";
import { Comet38Client, HttpClient, WebsocketClient } from "@cosmjs/tendermint-rpc";
import { GenericAuthorization } from "cosmjs-types/cosmos/authz/v1beta1/authz";
import { MsgExec, MsgGrant } from "cosmjs-types/cosmos/authz/v1beta1/tx";
import { MsgSend } from "cosmjs-types/cosmos/bank/v1beta1/tx";
import { TxRaw } from "cosmjs-types/cosmos/tx/v1beta1/tx";

const [url, chainId, mnemonicA, mnemonicC] = process.argv.slice(2);
function check(cond, what) {
  if (!cond) {
    console.error(`FAIL ${what}`);
    process.exit(1);
  }
  console.log(`ok ${what}`);
}
const options = { prefix: "gonka", hdPaths: [stringToPath("m/44'/1200'/0'/0/0")] };
const walletA = await DirectSecp256k1HdWallet.fromMnemonic(mnemonicA, options);
const walletC = await DirectSecp256k1HdWallet.fromMnemonic(mnemonicC, options);
const b = (await DirectSecp256k1HdWallet.generate(12, options).then((w) => w.getAccounts()))[0].address;
const [{ address: a }] = await walletA.getAccounts();
const [{ address: c }] = await walletC.getAccounts();
const clientOptions = { broadcastPollIntervalMs: 200, broadcastTimeoutMs: 20000 };
const clientA = await SigningStargateClient.connectWithSigner(url, walletA, clientOptions);
const clientC = await SigningStargateClient.connectWithSigner(url, walletC, clientOptions);
const fee = { amount: [{ denom: "ngonka", amount: "100" }], gas: "200000" };

const account = await clientA.getAccount(a);
check(account && account.address === a, `getAccount ${a} number ${account?.accountNumber}`);
const before = BigInt((await clientA.getBalance(a, "ngonka")).amount);

// MsgSend through SigningStargateClient.
const sent = await clientA.sendTokens(a, b, [{ denom: "ngonka", amount: "777" }], fee, "hello");
check(sent.code === 0 && sent.height > 0, `MsgSend included at height ${sent.height}`);
check((await clientA.getBalance(b, "ngonka")).amount === "777", "recipient balance +777");
const after = BigInt((await clientA.getBalance(a, "ngonka")).amount);
check(before - after === 877n, "sender paid amount + fee");
check((await clientA.getSequence(a)).sequence === account.sequence + 1, "sequence incremented");

// authz: A grants C MsgSend; C executes a send from A's account.
const grant = {
  typeUrl: "/cosmos.authz.v1beta1.MsgGrant",
  value: MsgGrant.fromPartial({
    granter: a,
    grantee: c,
    grant: {
      authorization: {
        typeUrl: "/cosmos.authz.v1beta1.GenericAuthorization",
        value: GenericAuthorization.encode({ msg: "/cosmos.bank.v1beta1.MsgSend" }).finish(),
      },
    },
  }),
};
check((await clientA.signAndBroadcast(a, [grant], fee)).code === 0, "MsgGrant included");
const exec = {
  typeUrl: "/cosmos.authz.v1beta1.MsgExec",
  value: MsgExec.fromPartial({
    grantee: c,
    msgs: [{
      typeUrl: "/cosmos.bank.v1beta1.MsgSend",
      value: MsgSend.encode({ fromAddress: a, toAddress: b, amount: [{ denom: "ngonka", amount: "5" }] }).finish(),
    }],
  }),
};
// A Tx subscription whose query has no tm.event condition gets C's tx (CometBFT's pubsub
// matches every event against the query).
const wsClient = new WebsocketClient(url.replace(/^http/, "ws"));
const fromC = wsClient.listen({ jsonrpc: "2.0", id: "from-c", method: "subscribe",
                                params: { query: `message.sender='${c}'` } });
const eventFromC = new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("no Tx event for message.sender within 20 s")), 20000);
  fromC.subscribe({ next: (e) => { clearTimeout(timer); resolve(e); }, error: reject, complete: () => {} });
});
await wsClient.connected();
await new Promise((r) => setTimeout(r, 300));  // the subscribe request reaches devchain first
const execResult = await clientC.signAndBroadcast(c, [exec], fee);
check(execResult.code === 0, `MsgExec by the grantee included (code ${execResult.code})`);
check((await clientA.getBalance(b, "ngonka")).amount === "782", "recipient balance +5 via authz");
const event = await eventFromC;
check(event.data.type === "tendermint/event/Tx" && event.events["tm.event"][0] === "Tx" &&
      event.events["tx.hash"][0] === execResult.transactionHash,
      "Tx subscription on message.sender (no tm.event) delivers C's MsgExec");
wsClient.disconnect();

// tx_search by event attributes and height: StargateClient.searchTx (txSearchAll) and
// Comet38Client.txSearch decode devchain's answers.
const bySender = await clientA.searchTx(`message.sender='${a}'`);
check(bySender.some((t) => t.hash === sent.transactionHash) && bySender.every((t) => t.code === 0),
      `searchTx message.sender='A' finds the MsgSend (${bySender.length} txs)`);
const toB = await clientA.searchTx(`transfer.recipient='${b}'`);
check(toB.some((t) => t.hash === sent.transactionHash) && toB.some((t) => t.hash === execResult.transactionHash),
      `searchTx transfer.recipient='B' finds the MsgSend and the MsgExec (${toB.length} txs)`);
const atHeight = await clientA.searchTx([{ key: "tx.height", value: sent.height }]);
check(atHeight.length >= 1 && atHeight.every((t) => t.height === sent.height) &&
      atHeight.some((t) => t.hash === sent.transactionHash), `searchTx tx.height=${sent.height}`);
const comet = await Comet38Client.create(new HttpClient(url));
const both = await comet.txSearch({
  query: `message.sender='${a}' AND tx.height>=${sent.height}`, order_by: "desc", per_page: 1 });
check(both.totalCount >= 2 && both.txs.length === 1 && both.txs[0].height >= sent.height,
      `Comet38Client.txSearch AND, desc, per_page 1 (total ${both.totalCount})`);
const none = await comet.txSearch({ query: `message.sender='${a}' AND tx.height<${sent.height}` });
check(none.totalCount === 0, "txSearch: no tx from A below the MsgSend's height");

// check_tx runs CheckTx only: a valid tx passes and can still be broadcast (no sequence kept,
// nothing in the mempool); a wrong chain-id fails with 4.
{
  const { accountNumber, sequence } = await clientA.getSequence(a);
  // amount 2: not the bytes the stale-sequence check below signs (those would be "in cache")
  const one = { typeUrl: "/cosmos.bank.v1beta1.MsgSend", value: MsgSend.fromPartial({ fromAddress: a, toAddress: b, amount: [{ denom: "ngonka", amount: "2" }] }) };
  const signed = TxRaw.encode(await clientA.sign(a, [one], fee, "", { accountNumber, sequence, chainId })).finish();
  const checkTx = async (bytes) => (await new HttpClient(url).execute({
    jsonrpc: "2.0", id: 1, method: "check_tx", params: { tx: Buffer.from(bytes).toString("base64") } })).result;
  const good = await checkTx(signed);
  check((good.code ?? 0) === 0 && (await comet.numUnconfirmedTxs()).total === 0, "check_tx: code 0, mempool untouched");
  const wrong = TxRaw.encode(await clientA.sign(a, [one], fee, "", { accountNumber, sequence, chainId: "other" })).finish();
  check((await checkTx(wrong)).code === 4, "check_tx: wrong chain-id code 4");
  const included = await clientA.broadcastTx(signed);
  check(included.code === 0, "the checked tx is then broadcast and included");
}
comet.disconnect();

// Gas estimation through Simulate (abci_query /cosmos.tx.v1beta1.Service/Simulate).
const sendOne = { typeUrl: "/cosmos.bank.v1beta1.MsgSend", value: MsgSend.fromPartial({ fromAddress: a, toAddress: b, amount: [{ denom: "ngonka", amount: "1" }] }) };
const gas = await clientA.simulate(a, [sendOne], "");
check(gas > 10000, `simulate estimates ${gas} gas`);

// Rejections, signed offline with explicit signer data.
const send = { typeUrl: "/cosmos.bank.v1beta1.MsgSend", value: MsgSend.fromPartial({ fromAddress: a, toAddress: b, amount: [{ denom: "ngonka", amount: "1" }] }) };
const { accountNumber, sequence } = await clientA.getSequence(a);
async function rejected(signerData, tamper) {
  const raw = await clientA.sign(a, [send], fee, "", signerData);
  if (tamper) raw.signatures[0][5] ^= 1;
  try {
    await clientA.broadcastTx(TxRaw.encode(raw).finish());
    return { code: 0 };
  } catch (err) {
    return { code: err.code, log: err.log ?? String(err) };
  }
}
let r = await rejected({ accountNumber, sequence, chainId: "wrong-chain" });
check(r.code === 4, `wrong chain-id rejected with code 4 (${r.code})`);
r = await rejected({ accountNumber, sequence: sequence - 1, chainId });
check(r.code === 32, `stale sequence rejected with code 32 (${r.code})`);
r = await rejected({ accountNumber, sequence, chainId }, true);
check(r.code === 4, `tampered signature rejected with code 4 (${r.code})`);
process.exit(0);
