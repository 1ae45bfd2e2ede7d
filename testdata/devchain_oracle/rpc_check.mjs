// CosmJS against a running devchain: StargateClient and Comet38Client read status, blocks, block
// results, commits, validators, genesis, block and tx searches over HTTP (CosmJS's own decoders
// prove the shapes), and WebSocket NewBlock / NewBlockHeader subscriptions receive consecutive
// heights.
// Usage: node rpc_check.mjs http://127.0.0.1:PORT CHAIN_ID
// Prints one "ok <check>" line per passed check; exits 1 on the first failure.
import { StargateClient } from "@cosmjs/stargate";
import { Comet38Client, HttpClient, WebsocketClient } from "@cosmjs/tendermint-rpc";

const [url, chainId] = process.argv.slice(2);
const toHex = (bytes) => Buffer.from(bytes).toString("hex");
function check(cond, what) {
  if (!cond) {
    console.error(`FAIL ${what}`);
    process.exit(1);
  }
  console.log(`ok ${what}`);
}

const stargate = await StargateClient.connect(url);
check((await stargate.getChainId()) === chainId, "StargateClient.getChainId");
let height = await stargate.getHeight();
for (let i = 0; i < 100 && height < 2; ++i) {  // the chain may have just started
  await new Promise((r) => setTimeout(r, 50));
  height = await stargate.getHeight();
}
check(height >= 2, `StargateClient.getHeight ${height}`);
const block = await stargate.getBlock(height - 1);
check(block.header.height === height - 1 && block.header.chainId === chainId, "StargateClient.getBlock");
check(block.id.length === 64, "block id is a 64-char hex hash");
stargate.disconnect();

const comet = await Comet38Client.create(new HttpClient(url));
const status = await comet.status();
check(status.nodeInfo.network === chainId && status.syncInfo.latestBlockHeight >= height,
      "Comet38Client.status");
const results = await comet.blockResults(height);
check(results.height === height && Array.isArray(results.results), "Comet38Client.blockResults");
const metas = await comet.blockchain(1, height);
check(metas.blockMetas.length >= 1 && metas.lastHeight >= height, "Comet38Client.blockchain");
const b1 = await comet.block(1);
const b2 = await comet.block(2);
check(Buffer.from(b2.block.header.lastBlockId.hash).equals(Buffer.from(b1.blockId.hash)),
      "blocks are chained (lastBlockId)");

// commit: the signed header of a past height is the header of that block, and its commit is the
// next block's last_commit (CosmJS decodes block ids, signatures and timestamps).
const commit = await comet.commit(1);
check(commit.canonical === true && commit.header.height === 1 &&
      Buffer.from(commit.commit.blockId.hash).equals(Buffer.from(b1.blockId.hash)) &&
      commit.commit.signatures.length === 1 &&
      Buffer.from(commit.commit.signatures[0].signature).equals(
          Buffer.from(b2.block.lastCommit.signatures[0].signature)),
      "Comet38Client.commit(1) = block 2's last_commit");
const tipCommit = await comet.commit();
check(tipCommit.canonical === false && tipCommit.header.height >= height, "Comet38Client.commit() at the tip");
const validators = await comet.validators({ height: 1 });
check(validators.blockHeight === 1 && validators.count === 1 && validators.total === 1 &&
      validators.validators[0].votingPower === 10n && validators.validators[0].pubkey.algorithm === "ed25519" &&
      Buffer.from(validators.validators[0].address).equals(Buffer.from(b1.block.header.proposerAddress)),
      "Comet38Client.validators: the proposer, 10 power");
const all = await comet.validatorsAll();
check(all.validators.length === 1, "Comet38Client.validatorsAll");
const genesis = await comet.genesis();
check(genesis.chainId === chainId && genesis.validators.length === 1 &&
      genesis.consensusParams.block.maxBytes > 0, "Comet38Client.genesis");
const search = await comet.blockSearch({ query: `block.height>=1 AND block.height<=${height}`, per_page: 1 });
check(search.totalCount === height && search.blocks.length === 1, `Comet38Client.blockSearch total ${search.totalCount}`);
const searchAll = await comet.blockSearchAll({ query: `block.height<=${height}`, per_page: 1 });
check(searchAll.blocks.length === height && searchAll.blocks[0].block.header.height === 1,
      "Comet38Client.blockSearchAll pages through every block");
const noTxs = await comet.txSearch({ query: `tx.height=${height}` });
check(noTxs.totalCount === 0 && noTxs.txs.length === 0, "Comet38Client.txSearch (an empty block)");
const unconfirmed = await comet.numUnconfirmedTxs();
check(unconfirmed.total === 0 && unconfirmed.totalBytes === 0, "Comet38Client.numUnconfirmedTxs");

// Methods Comet38Client has no wrapper for, through its HttpClient; "params": null is no params.
const http = new HttpClient(url);
const rpc = async (method, params) => (await http.execute({ jsonrpc: "2.0", id: 1, method, params })).result;
const header = await rpc("header", { height: "2" });
check(header.header.height === "2" && header.header.app_hash === toHex(b2.block.header.appHash).toUpperCase(),
      "header(2) = block 2's header");
const byHash = await rpc("header_by_hash", { hash: toHex(b2.blockId.hash) });
check(byHash.header.height === "2", "header_by_hash");
const blockByHash = await rpc("block_by_hash", { hash: Buffer.from(b2.blockId.hash).toString("base64") });
check(blockByHash.block.header.height === "2", "block_by_hash");
const params = await rpc("consensus_params", null);
check(params.consensus_params.block.max_gas === "-1", "consensus_params with \"params\": null");
const net = await rpc("net_info", null);
check(net.n_peers === "0" && Array.isArray(net.peers), "net_info");
const pool = await rpc("unconfirmed_txs", { limit: "10" });
check(pool.n_txs === "0" && Array.isArray(pool.txs), "unconfirmed_txs");
try {
  await rpc("no_such_method", null);
  check(false, "unknown method refused");
} catch (err) {
  check(String(err.message ?? err).includes("-32601"), "unknown method: -32601 Method not found");
}
comet.disconnect();

const ws = await Comet38Client.create(new WebsocketClient(url.replace(/^http/, "ws")));
const heights = await new Promise((resolve, reject) => {
  const seen = [];
  const timer = setTimeout(() => reject(new Error(`timeout, saw ${seen}`)), 15000);
  const sub = ws.subscribeNewBlock().subscribe({
    next: (event) => {
      seen.push(event.header.height);
      if (seen.length === 5) {
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(seen);
      }
    },
    error: (err) => reject(err),
    complete: () => {},
  });
});
check(heights.every((h, i) => i === 0 || h === heights[i - 1] + 1),
      `NewBlock subscription: consecutive heights ${heights.join(",")}`);
const headerHeights = await new Promise((resolve, reject) => {
  const seen = [];
  const timer = setTimeout(() => reject(new Error(`timeout, saw ${seen}`)), 15000);
  const sub = ws.subscribeNewBlockHeader().subscribe({
    next: (header) => {
      seen.push(header.height);
      if (seen.length === 3) {
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(seen);
      }
    },
    error: (err) => reject(err),
    complete: () => {},
  });
});
check(headerHeights.every((h, i) => i === 0 || h === headerHeights[i - 1] + 1),
      `NewBlockHeader subscription: consecutive heights ${headerHeights.join(",")}`);
ws.disconnect();
process.exit(0);
