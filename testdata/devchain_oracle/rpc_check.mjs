// CosmJS against a running devchain: StargateClient and Comet38Client read status, blocks and
// block results over HTTP, and a WebSocket NewBlock subscription receives consecutive heights.
// Usage: node rpc_check.mjs http://127.0.0.1:PORT CHAIN_ID
// Prints one "ok <check>" line per passed check; exits 1 on the first failure.
import { StargateClient } from "@cosmjs/stargate";
import { Comet38Client, HttpClient, WebsocketClient } from "@cosmjs/tendermint-rpc";

const [url, chainId] = process.argv.slice(2);
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
ws.disconnect();
process.exit(0);
