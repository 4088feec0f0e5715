// Development only (scripts/peer/README.md): llama.cpp timing through node-llama-cpp, on its CPU
// backend or (BACKEND vulkan) its Vulkan backend with every layer offloaded.
// pp: 64 tokens in one batch from an empty cache; tg: 16 greedy tokens after a 16-token prefix.
import {getLlama} from "node-llama-cpp";
const [modelPath, threads, reps] = [process.argv[2], +process.argv[3] || 2, +process.argv[4] || 2];
const vulkan = process.argv[5] === "vulkan";
const llama = await getLlama({gpu: vulkan ? "vulkan" : false, build: "never", logLevel: process.env.PEER_LOG || "error"});
const model = await llama.loadModel({modelPath, gpuLayers: vulkan ? "max" : 0});
const ctx = await model.createContext({contextSize: 256, threads, batchSize: 64});
const seq = ctx.getSequence();
const prompt = Array.from({length: 64}, (_, i) => (i * 7919 + 13) % 50257);
const now = () => Number(process.hrtime.bigint()) / 1e9;
for (let r = 0; r <= reps; ++r) {
  await seq.clearHistory();
  let t0 = now();
  await seq.evaluateWithoutGeneratingNewTokens(prompt);
  const pp = 64 / (now() - t0);
  await seq.clearHistory();
  await seq.evaluateWithoutGeneratingNewTokens(prompt.slice(0, 16));
  let n = 0;
  t0 = now();
  for await (const t of seq.evaluate([prompt[16]], {temperature: 0})) { if (++n >= 16) break; }
  const tg = n / (now() - t0);
  console.log(`${r === 0 ? "warm-up " : ""}pp64 ${pp.toFixed(1)} tok/s, tg16 ${tg.toFixed(1)} tok/s`);
}
