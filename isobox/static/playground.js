// The isobox playground: pick a language, write code and stdin, run it, watch the output.
// Talks to this server only: GET /languages, POST /execute (Server-Sent Events when the
// server streams, else one JSON answer). The API key lives in this page (memory, or this
// tab's sessionStorage when kept) and goes out as `Authorization: Bearer`, never as a cookie.
"use strict";

const KEY_STORAGE = "isobox.apiKey";
const IMAGE_TYPES = { png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif", webp: "image/webp", svg: "image/svg+xml" };
const SAMPLES = {
  python: 'import sys\n\nname = sys.stdin.read().strip() or "world"\nprint(f"Hello, {name}!")\n',
  node: 'const input = require("fs").readFileSync(0, "utf8").trim() || "world";\nconsole.log(`Hello, ${input}!`);\n',
  bash: 'read -r name || true\necho "Hello, ${name:-world}!"\n',
  ruby: 'name = $stdin.read.strip\nname = "world" if name.empty?\nputs "Hello, #{name}!"\n',
  c: '#include <stdio.h>\n\nint main(void) {\n    char name[100] = "world";\n    scanf("%99s", name);\n    printf("Hello, %s!\\n", name);\n    return 0;\n}\n',
  cpp: '#include <iostream>\n#include <string>\n\nint main() {\n    std::string name = "world";\n    std::cin >> name;\n    std::cout << "Hello, " << name << "!" << std::endl;\n}\n',
  go: 'package main\n\nimport "fmt"\n\nfunc main() {\n\tname := "world"\n\tfmt.Scan(&name)\n\tfmt.Printf("Hello, %s!\\n", name)\n}\n',
  java: 'import java.util.Scanner;\n\npublic class Main {\n    public static void main(String[] args) {\n        Scanner in = new Scanner(System.in);\n        String name = in.hasNext() ? in.next() : "world";\n        System.out.println("Hello, " + name + "!");\n    }\n}\n',
  rust: 'use std::io::Read;\n\nfn main() {\n    let mut name = String::new();\n    std::io::stdin().read_to_string(&mut name).unwrap();\n    let name = if name.trim().is_empty() { "world" } else { name.trim() };\n    println!("Hello, {}!", name);\n}\n',
};

const $ = (id) => document.getElementById(id);
const ui = {
  backend: $("backend"), language: $("language"), file: $("file"), run: $("run"),
  code: $("code"), stdin: $("stdin"), outputs: $("outputs"), keyBox: $("key-box"), keyState: $("key-state"),
  keyForm: $("key-form"), key: $("key"), remember: $("remember"), forget: $("forget"),
  status: $("status"), compileBox: $("compile-box"), compile: $("compile"),
  stdout: $("stdout"), stderr: $("stderr"), filesBox: $("files-box"), files: $("files"),
};

let apiKey = sessionStorage.getItem(KEY_STORAGE) || "";
let languages = [];
let edited = false;
let timer = null;

function headers(extra) {
  const all = Object.assign({}, extra);
  if (apiKey) all["Authorization"] = "Bearer " + apiKey;
  return all;
}

function showKeyState() {
  ui.keyState.textContent = apiKey ? "set" : "none";
  ui.remember.checked = Boolean(sessionStorage.getItem(KEY_STORAGE));
}

function setStatus(parts, muted) {
  ui.status.replaceChildren(...parts.map((part) => {
    if (typeof part === "string") return document.createTextNode(part);
    const span = document.createElement("span");
    span.className = "badge " + (part.kind || "");
    span.textContent = part.text;
    if (part.name) span.dataset.name = part.name;
    return span;
  }));
  ui.status.classList.toggle("muted", Boolean(muted));
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    if (body && body.message) return body.message;
  } catch (_) { /* not isobox's error body */ }
  return "HTTP " + response.status;
}

function needKey(message) {
  ui.keyBox.open = true;
  ui.key.focus();
  setStatus([{ text: "API key needed", kind: "warn" }, " " + message]);
}

async function loadLanguages() {
  let response;
  try {
    response = await fetch("/languages", { headers: headers({ Accept: "application/json" }) });
  } catch (error) {
    ui.backend.textContent = "cannot reach the server";
    return;
  }
  if (response.status === 401) {
    ui.backend.textContent = "this server needs an API key";
    needKey(await errorMessage(response));
    return;
  }
  if (!response.ok) {
    ui.backend.textContent = await errorMessage(response);
    return;
  }
  const answer = await response.json();
  languages = answer.languages;
  ui.backend.textContent = "backend: " + answer.backend;
  const chosen = ui.language.value;
  ui.language.replaceChildren(...languages.map((language) => {
    const option = document.createElement("option");
    option.value = language.name;
    option.textContent = `${language.name} ${language.version}`;
    return option;
  }));
  const names = languages.map((language) => language.name);
  ui.language.value = names.includes(chosen) ? chosen : (names.includes("python") ? "python" : names[0] || "");
  ui.language.disabled = ui.run.disabled = languages.length === 0;
  languageChosen();
  setStatus(["Write a program and press Run (Ctrl+Enter)."], true);
}

function languageChosen() {
  const language = languages.find((entry) => entry.name === ui.language.value);
  ui.file.textContent = language ? language.file + (language.compiled ? " · compiled" : "") : "";
  if (language && (!edited || !ui.code.value.trim())) {
    ui.code.value = SAMPLES[language.name] || "";
    edited = false;
  }
}

function clearOutput() {
  for (const pre of [ui.stdout, ui.stderr, ui.compile]) pre.textContent = "";
  ui.compileBox.hidden = true;
  ui.filesBox.hidden = true;
  ui.files.replaceChildren();
}

function startTimer() {
  const started = performance.now();
  const tick = () => setStatus([{ text: "running", kind: "" }, ` ${((performance.now() - started) / 1000).toFixed(1)} s`], true);
  tick();
  timer = setInterval(tick, 100);
}

function stopTimer() {
  clearInterval(timer);
  timer = null;
}

async function run() {
  if (ui.run.disabled) return;
  ui.run.disabled = true;
  clearOutput();
  startTimer();
  try {
    const response = await fetch("/execute", {
      method: "POST",
      headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream, application/json" }),
      body: JSON.stringify(request()),
    });
    if (!response.ok) {
      stopTimer();
      const message = await errorMessage(response);
      if (response.status === 401) needKey(message);
      else setStatus([{ text: "refused", kind: "bad" }, ` ${message}`]);
      return;
    }
    const type = response.headers.get("content-type") || "";
    if (type.startsWith("text/event-stream") && response.body) {
      await readEvents(response.body);
    } else {
      showResult(await response.json());
    }
  } catch (error) {
    setStatus([{ text: "failed", kind: "bad" }, ` ${error}`]);
  } finally {
    stopTimer();
    ui.run.disabled = false;
  }
}

function request() {
  const body = { language: ui.language.value, code: ui.code.value, stdin: ui.stdin.value };
  const outputs = ui.outputs.value.split(/[\s,]+/).filter(Boolean);
  if (outputs.length) body.outputs = outputs;
  return body;
}

// Server-Sent Events off a fetch body: `event: NAME` and `data: JSON` lines, a blank line
// between events.
async function readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) onEvent(name, data.join("\n"));
    }
  }
}

function parsed(data) {
  try { return JSON.parse(data); } catch (_) { return data; }
}

function chunkText(payload) {
  if (typeof payload === "string") return payload;
  return payload.text ?? payload.data ?? payload.chunk ?? "";
}

function onEvent(name, data) {
  const payload = parsed(data);
  if (name === "stdout" || name === "stderr") {
    ui[name].textContent += chunkText(payload);
  } else if (name === "compile") {
    ui.compileBox.hidden = false;
    ui.compile.textContent += chunkText(payload);
  } else if (name === "result") {
    stopTimer();
    showResult(payload);
  } else if (name === "error") {
    stopTimer();
    setStatus([{ text: "error", kind: "bad" }, " " + (payload.message || data)]);
  }
}

function showResult(result) {
  ui.stdout.textContent = result.stdout || "";
  ui.stderr.textContent = result.stderr || "";
  if (result.compile) {
    ui.compileBox.hidden = false;
    ui.compile.textContent = [result.compile.stdout, result.compile.stderr].filter(Boolean).join("");
  }
  const verdict = result.verdict || (result.exit_code === 0 ? "accepted" : "runtime_error");
  const parts = [
    { text: verdict.replace(/_/g, " "), kind: verdict === "accepted" ? "accepted" : "bad", name: "verdict" },
    { text: "exit " + (result.exit_code === null || result.exit_code === undefined ? "—" : result.exit_code), name: "exit" },
  ];
  if (result.signal) parts.push({ text: result.signal, kind: "bad", name: "signal" });
  if (result.timed_out) parts.push({ text: "timed out", kind: "warn" });
  if (result.oom_killed) parts.push({ text: "out of memory", kind: "warn" });
  if (result.stdout_truncated || result.stderr_truncated) parts.push({ text: "output truncated", kind: "warn" });
  parts.push({ text: `${result.duration_ms} ms`, name: "duration" });
  if (result.compile) parts.push({ text: `compile ${result.compile.duration_ms} ms` });
  parts.push(` ${result.language} on ${result.backend}`);
  setStatus(parts);
  showFiles(result.files, result.files_skipped);
}

// Output files, when results carry them: `{name, size, content_b64, truncated}` (a plain
// `content`, or `encoding: base64`, is read too).
function showFiles(files, skipped) {
  files = Array.isArray(files) ? files : [];
  skipped = Array.isArray(skipped) ? skipped : [];
  if (files.length === 0 && skipped.length === 0) return;
  ui.filesBox.hidden = false;
  for (const file of skipped) {
    const note = document.createElement("p");
    note.className = "muted";
    note.textContent = `${file.name}: not sent back (${file.reason})`;
    ui.files.append(note);
  }
  for (const file of files) {
    const name = file.name || file.path || "output";
    const extension = name.split(".").pop().toLowerCase();
    const mime = file.mime_type || file.media_type || IMAGE_TYPES[extension] || "";
    const base64 = file.content_b64 !== undefined || String(file.encoding || "").toLowerCase().startsWith("base64");
    const content = file.content_b64 ?? file.content ?? file.data ?? "";
    const figure = document.createElement("figure");
    const caption = document.createElement("figcaption");
    caption.textContent = name + (file.truncated ? " (cut at the output files' limit)" : "");
    if (mime.startsWith("image/")) {
      const image = document.createElement("img");
      image.alt = name;
      image.src = `data:${mime};base64,` + (base64 ? content : btoa(unescape(encodeURIComponent(content))));
      figure.append(image, caption);
    } else {
      const pre = document.createElement("pre");
      pre.className = "stream";
      pre.textContent = base64 ? decodeBase64(content) : content;
      figure.append(caption, pre);
    }
    ui.files.append(figure);
  }
}

function decodeBase64(text) {
  try {
    const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (_) {
    return `(${text.length * 3 / 4 | 0} bytes of binary data)`;
  }
}

ui.language.addEventListener("change", languageChosen);
ui.code.addEventListener("input", () => { edited = true; });
ui.run.addEventListener("click", run);
for (const area of [ui.code, ui.stdin]) {
  area.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      run();
    } else if (event.key === "Tab" && area === ui.code && !event.shiftKey) {
      event.preventDefault();
      area.setRangeText("    ", area.selectionStart, area.selectionEnd, "end");
      edited = true;
    }
  });
}
ui.keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  apiKey = ui.key.value.trim();
  ui.key.value = "";
  if (ui.remember.checked && apiKey) sessionStorage.setItem(KEY_STORAGE, apiKey);
  else sessionStorage.removeItem(KEY_STORAGE);
  showKeyState();
  ui.keyBox.open = false;
  loadLanguages();
});
ui.forget.addEventListener("click", () => {
  apiKey = "";
  sessionStorage.removeItem(KEY_STORAGE);
  showKeyState();
});

showKeyState();
loadLanguages();
