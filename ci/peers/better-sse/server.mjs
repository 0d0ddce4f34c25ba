// A fan-out SSE server on better-sse (Node's http module), for sse-load peer runs.
//
// GET /events registers a session on one channel; POST /publish broadcasts its JSON body
// (better-sse serializes data as JSON) with id N; GET /health answers ok; GET /metrics is
// prom-client's default process metrics in the Prometheus text format. It listens on a free
// port of 127.0.0.1 and writes the port and its pid to the files given.
//
//   node server.mjs --port-file PORT --pid-file PID
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { parseArgs } from "node:util";

import { createChannel, createSession } from "better-sse";
import client from "prom-client";

const { values } = parseArgs({ options: { "port-file": { type: "string" }, "pid-file": { type: "string" } } });
client.collectDefaultMetrics();
const channel = createChannel();
let published = 0;

const server = createServer(async (req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (req.method === "GET" && url.pathname === "/events") {
    const session = await createSession(req, res);
    channel.register(session);
  } else if (req.method === "POST" && url.pathname === "/publish") {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    let data;
    try {
      data = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      res.writeHead(400).end("body must be JSON");
      return;
    }
    published += 1;
    channel.broadcast(data, "message", { eventId: String(published) });
    res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ id: published }));
  } else if (url.pathname === "/health") {
    res.writeHead(200).end("ok");
  } else if (url.pathname === "/metrics") {
    res.writeHead(200, { "Content-Type": client.register.contentType }).end(await client.register.metrics());
  } else {
    res.writeHead(404).end();
  }
});

server.listen(0, "127.0.0.1", () => {
  writeFileSync(values["pid-file"], `${process.pid}\n`);
  writeFileSync(values["port-file"], `${server.address().port}\n`);
});
