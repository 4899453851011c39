// The payload parser's world, as TagoIO documents it: the globals `payload`, `device`,
// `raw_payload`, `Buffer` (the npm `buffer` package, vendored beside this file) and `console`.
// Loaded once per V8 context after the vendored modules (see javascript.py), then every run of
// the context's parser goes through __mqttActionsRun. No require, no network, no files, no
// timers: V8 alone has none of them, and `require` says so clearly.
/* global __mqttActionsModules */
var __mqttActionsRuntime = (function (factories) {
  "use strict";
  var MAX_LINES = 100; // console lines kept per run
  var MAX_LINE_CHARS = 2000; // characters kept per console line
  var cache = {};

  function load(name) {
    if (!Object.prototype.hasOwnProperty.call(cache, name)) {
      var module = { exports: {} };
      cache[name] = module;
      factories[name](module, module.exports, load);
    }
    return cache[name].exports;
  }

  var Buffer = load("buffer").Buffer;

  function require(name) {
    throw new Error(
      "require(" + JSON.stringify(String(name)) + ") is not available: a payload parser runs " +
        "without modules, files or network access (Buffer is already a global)"
    );
  }

  function text(value) {
    if (typeof value === "string") return value;
    if (value instanceof Error) return value.stack || String(value);
    if (value === undefined) return "undefined";
    if (typeof value === "function") return "[Function" + (value.name ? ": " + value.name : "") + "]";
    try {
      var json = JSON.stringify(value);
      return json === undefined ? String(value) : json;
    } catch (e) {
      return String(value);
    }
  }

  // The lines of the run in progress: read back by Python after a timeout, too.
  var lines = [];

  function writer(prefix) {
    return function () {
      if (lines.length >= MAX_LINES) {
        if (lines.length === MAX_LINES) lines.push("(more console lines dropped: " + MAX_LINES + " kept per message)");
        return;
      }
      var parts = [];
      for (var i = 0; i < arguments.length; i++) parts.push(text(arguments[i]));
      var line = prefix + parts.join(" ");
      lines.push(line.length > MAX_LINE_CHARS ? line.slice(0, MAX_LINE_CHARS) + "…" : line);
    };
  }

  var console = Object.freeze({
    log: writer(""),
    info: writer(""),
    debug: writer("debug: "),
    warn: writer("warn: "),
    error: writer("error: "),
  });

  var parser = null;

  function describe(error) {
    if (error instanceof Error) {
      // The parser's own frames read "(eval at compile (...), <anonymous>:LINE:COL)"; new
      // Function puts two lines before the body, so line 3 is the parser's line 1.
      var where = /, <anonymous>:(\d+):(\d+)\)/.exec(error.stack || "");
      var at = where ? " (line " + (Number(where[1]) - 2) + ")" : "";
      return error.name + ": " + error.message + at;
    }
    return "the parser threw " + text(error);
  }

  return {
    compile: function (source) {
      parser = new Function(
        "payload", "device", "raw_payload", "Buffer", "console", "require",
        "setTimeout", "setInterval", "clearTimeout", "fetch",
        source + "\n;return payload;"
      );
      return true;
    },
    lines: function () {
      return lines;
    },
    run: function (pointsJson, deviceJson) {
      lines = [];
      var result;
      var error = null;
      try {
        result = parser(
          JSON.parse(pointsJson), JSON.parse(deviceJson), JSON.parse(pointsJson),
          Buffer, console, require, undefined, undefined, undefined, undefined
        );
      } catch (e) {
        error = describe(e);
      }
      var out = null;
      if (error === null) {
        try {
          out = JSON.stringify(result === undefined ? null : result);
        } catch (e) {
          error = "the parser's payload cannot be written as JSON: " + describe(e);
        }
      }
      return { result: out, error: error, logs: lines };
    },
  };
})(__mqttActionsModules);
