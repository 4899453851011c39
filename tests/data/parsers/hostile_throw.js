const raw = payload.find((x) => x.variable === "payload");
console.log("about to fail on", raw && raw.value);
throw new Error("unknown frame type " + (raw && raw.value));
