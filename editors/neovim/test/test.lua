-- Headless test of the nib plugin with a real nib server (run by test/run.sh, which sets the
-- environment below). Each check prints one line; the last line is "N passed, M failed" and
-- Neovim exits with the number of failures.
--
--   NIB_BIN             the nib binary
--   NIB_TEST_WORKSPACE  a scratch project holding inventory.py (fixtures/python)
--   NIB_TEST_LOG        the file nib logs to (NIB_LOG_FILE)
--   NIB_TEST_MODEL      the model's path (nib runs with a NIB_HOME of the test's own)
--   NIB_TEST_STAND_IN_ONLY=1  only the checks against the in-process stand-in (no nib, no model)
local workspace = assert(vim.env.NIB_TEST_WORKSPACE, "NIB_TEST_WORKSPACE is not set")
local nib_log = assert(vim.env.NIB_TEST_LOG, "NIB_TEST_LOG is not set")
local nib_bin = vim.env.NIB_BIN or "nib"

vim.lsp.set_log_level("debug")
vim.o.completeopt = "menuone,noselect"
vim.o.showmode = false
vim.opt.shortmess:append("c")

require("nib").setup({
  cmd = nib_bin,
  log_file = nib_log,
  -- Generous budgets: the machine may be busy, and the test is about the editor side.
  -- telemetry = full: run.sh exports the recorded suggestions afterwards.
  settings = {
    deadlineMs = 0,
    coldDeadlineMs = 60000,
    repoContextTokens = 0,
    telemetry = "full",
    model = vim.env.NIB_TEST_MODEL,
  },
})

-- Messages on lines of their own (headless Neovim writes them to stdout without line breaks).
vim.notify = function(msg)
  io.stdout:write("     notify: " .. tostring(msg) .. "\n")
end

local passed, failed = 0, 0
local co ---@type thread

local function out(line)
  io.stdout:write(line .. "\n")
  io.stdout:flush()
end

local function resume()
  local ok, err = coroutine.resume(co)
  if not ok then
    out("test runner crashed: " .. tostring(err))
    vim.cmd("cquit 99")
  end
end

local function sleep(ms)
  vim.defer_fn(resume, ms)
  coroutine.yield()
end

--- Poll `cond` every 50 ms until it returns a truthy value (returned) or `timeout_ms` passes.
local function wait_for(what, timeout_ms, cond)
  local deadline = vim.uv.now() + timeout_ms
  while true do
    local v = cond()
    if v then
      return v
    end
    if vim.uv.now() > deadline then
      error(("timed out after %d ms waiting for %s"):format(timeout_ms, what), 0)
    end
    sleep(50)
  end
end

local function check(cond, msg)
  if not cond then
    error(msg, 0)
  end
end

local function test(name, fn)
  local t0 = vim.uv.hrtime()
  local ok, err = pcall(fn)
  local secs = (vim.uv.hrtime() - t0) / 1e9
  if ok then
    passed = passed + 1
    out(("ok   %s (%.1f s)"):format(name, secs))
  else
    failed = failed + 1
    out(("FAIL %s (%.1f s): %s"):format(name, secs, tostring(err)))
  end
  if vim.api.nvim_get_mode().mode:sub(1, 1) == "i" then
    vim.cmd("stopinsert")
    sleep(50)
  end
end

local function read(path)
  local f = io.open(path, "r")
  if not f then
    return ""
  end
  local s = f:read("*a")
  f:close()
  return s
end

local function count(haystack, needle)
  local n, i = 0, 1
  while true do
    local s, e = haystack:find(needle, i, true)
    if not s then
      return n
    end
    n, i = n + 1, e + 1
  end
end

local function keys(k)
  vim.api.nvim_feedkeys(vim.keycode(k), "n", false)
end

--- Put the cursor at the end of line `lnum` in insert mode.
local function insert_at_end(lnum)
  vim.api.nvim_win_set_cursor(0, { lnum, 0 })
  vim.cmd("startinsert!")
  wait_for("insert mode", 2000, function()
    return vim.api.nvim_get_mode().mode == "i"
  end)
end

--- The nib item the open completion menu lists, if any.
local function menu_nib_item()
  if vim.fn.pumvisible() == 0 then
    return nil
  end
  for _, ci in ipairs(vim.fn.complete_info({ "items" }).items or {}) do
    local item = require("nib.complete").nib_item(ci)
    if item then
      return item
    end
  end
end

--- Open the menu with `trigger`, select nib's item and accept it with <C-y>; the item and the
--- line it was requested on (as it was then).
local function complete_and_accept(lnum, trigger)
  insert_at_end(lnum)
  local before = vim.api.nvim_buf_get_lines(0, lnum - 1, lnum, true)[1]
  trigger()
  local item = wait_for("nib's item in the completion menu", 240000, menu_nib_item)
  keys("<C-n><C-y>")
  wait_for("the menu to close", 5000, function()
    return vim.fn.pumvisible() == 0
  end)
  sleep(100)
  return item, before
end

--- The buffer holds `before` with the item's whole textEdit applied (every line of it).
local function assert_whole(item, lnum, before)
  local edit = item.textEdit
  check(edit and edit.newText, "nib's item has no textEdit")
  local new_text = edit.newText
  local start = edit.range.start.character -- nib speaks UTF-8 with Neovim: a byte column
  local expected = vim.split(before:sub(1, start) .. new_text, "\n", { plain = true })
  local got = vim.api.nvim_buf_get_lines(0, lnum - 1, lnum - 1 + #expected, false)
  check(
    vim.deep_equal(got, expected),
    ("buffer has %s, expected %s"):format(vim.inspect(got), vim.inspect(expected))
  )
  return new_text
end

local function nib_client()
  return vim.lsp.get_clients({ name = "nib", bufnr = 0 })[1]
end

local function stats_now(client)
  local done, result
  require("nib.util").request(client, "nib/stats", vim.NIL, function(err, res)
    done, result = true, (not err) and res or nil
  end)
  wait_for("nib/stats", 10000, function()
    return done
  end)
  return result
end


--- An in-process stand-in for nib (named "nib" so that the plugin treats it as nib) answering
--- every completion with `suggestion`; it records the commands and notifications it receives.
--- It checks the plugin's side of the menu protocol, which must not depend on what a model
--- happens to write.
local function stand_in(suggestion, record)
  return function()
    local closing, id = false, 0
    local srv = {}
    function srv.request(method, params, callback)
      id = id + 1
      vim.schedule(function()
        if method == "initialize" then
          callback(nil, {
            capabilities = {
              positionEncoding = "utf-8",
              textDocumentSync = 1,
              completionProvider = {},
              executeCommandProvider = { commands = { "nib.accepted" } },
            },
            serverInfo = { name = "nib-stand-in" },
          })
        elseif method == "textDocument/completion" then
          local p = params.position
          callback(nil, {
            isIncomplete = true,
            items = {
              {
                label = vim.split(suggestion, "\n")[1],
                kind = 1,
                insertTextFormat = 1,
                textEdit = { range = { start = p, ["end"] = p }, newText = suggestion },
                command = { title = "nib", command = "nib.accepted", arguments = { { version = 7 } } },
              },
            },
          })
        elseif method == "workspace/executeCommand" then
          record.commands[#record.commands + 1] = params
          callback(nil, vim.NIL)
        else
          callback(nil, vim.NIL)
        end
      end)
      return true, id
    end
    function srv.notify(method, params)
      record.notes[#record.notes + 1] = { method = method, params = params }
      if method == "exit" then
        closing = true
      end
      return true
    end
    function srv.is_closing()
      return closing
    end
    function srv.terminate()
      closing = true
    end
    return srv
  end
end

local function notes_named(record, method)
  return vim.tbl_filter(function(n)
    return n.method == method
  end, record.notes)
end

local function stand_in_tests()
  local multi = "if not items:\n        return None\n    return min(items, key=lambda item: item.unit_price)"
  local record = { commands = {}, notes = {} }
  vim.cmd.edit(vim.fn.fnameescape(vim.fs.joinpath(workspace, "stand_in.txt")))
  vim.api.nvim_buf_set_lines(0, 0, -1, true, { "def cheapest(items):", "    " })
  local bufnr = vim.api.nvim_get_current_buf()
  local id = vim.lsp.start({ name = "nib", cmd = stand_in(multi, record), root_dir = workspace }, { bufnr = bufnr })
  wait_for("the stand-in to attach", 5000, function()
    return vim.lsp.get_clients({ bufnr = bufnr, id = id })[1]
  end)

  for _, way in ipairs({
    { "nib's own menu", require("nib.complete").trigger },
    { "<C-x><C-o>", function()
      keys("<C-x><C-o>")
    end },
  }) do
    test("stand-in: a multi-line suggestion is inserted whole through " .. way[1], function()
      vim.api.nvim_buf_set_lines(0, 1, -1, true, { "    " })
      local accepted, shown = #record.commands, #notes_named(record, "textDocument/didShowCompletion")
      vim.bo.omnifunc = "v:lua.vim.lsp.omnifunc"
      local item, before = complete_and_accept(2, way[2])
      assert_whole(item, 2, before)
      local cursor = vim.api.nvim_win_get_cursor(0)
      check(cursor[1] == 4, "cursor not on the suggestion's last line: " .. vim.inspect(cursor))
      wait_for("nib.accepted", 2000, function()
        return #record.commands == accepted + 1
      end)
      check(record.commands[accepted + 1].command == "nib.accepted", vim.inspect(record.commands))
      check(#notes_named(record, "textDocument/didShowCompletion") == shown + 1, "no didShowCompletion")
      check(#notes_named(record, "nib/didRejectCompletion") == 0, "accepted, yet a reject was sent")
    end)
  end

  test("stand-in: a menu word holding the whole multi-line text ends up indented as nib wrote it", function()
    -- A completion source whose word is the whole newText: the menu inserts its line breaks
    -- and 'autoindent' indents the lines again. vim.lsp.completion's `convert` makes the
    -- built-in menu such a source.
    vim.api.nvim_buf_set_lines(0, 1, -1, true, { "    " })
    vim.lsp.completion.enable(true, id, bufnr, {
      convert = function(item)
        return { word = item.textEdit.newText }
      end,
    })
    local item, before = complete_and_accept(2, function()
      vim.lsp.completion.get()
    end)
    vim.lsp.completion.enable(false, id, bufnr)
    assert_whole(item, 2, before)
  end)

  test("stand-in: <C-e> and typing over send nib/didRejectCompletion", function()
    vim.api.nvim_buf_set_lines(0, 1, -1, true, { "    " })
    local accepted = #record.commands
    insert_at_end(2)
    keys("<C-x><C-o>")
    wait_for("the menu", 5000, menu_nib_item)
    keys("<C-e>")
    local rejects = wait_for("a reject", 2000, function()
      local r = notes_named(record, "nib/didRejectCompletion")
      return #r == 1 and r
    end)
    local p = rejects[1].params
    check(p.reason == "dismissed", "reason " .. tostring(p.reason))
    check(p.textDocument.uri == vim.uri_from_bufnr(0), "uri " .. tostring(p.textDocument.uri))
    check(p.items[1].version == 7, "items " .. vim.inspect(p.items))
    check(type(p.shownMs) == "number" and p.position.line == 1, vim.inspect(p))
    keys("<C-x><C-o>")
    wait_for("the menu", 5000, menu_nib_item)
    keys("x ")
    rejects = wait_for("a second reject", 2000, function()
      local r = notes_named(record, "nib/didRejectCompletion")
      return #r == 2 and r
    end)
    check(rejects[2].params.reason == "typedOver", "reason " .. tostring(rejects[2].params.reason))
    check(#record.commands == accepted, "a rejected suggestion was reported accepted")
  end)

  require("nib.util").stop(vim.lsp.get_client_by_id(id))
  vim.cmd("bwipeout!")
end

local last_line -- line number of `    return ` in average_price

local function main()
  -- First, before the real nib starts (no model loading meanwhile).
  stand_in_tests()
  if vim.env.NIB_TEST_STAND_IN_ONLY == "1" then
    return
  end
  local file = vim.fs.joinpath(workspace, "inventory.py")
  vim.cmd.edit(vim.fn.fnameescape(file))
  last_line = vim.api.nvim_buf_line_count(0)
  while vim.api.nvim_buf_get_lines(0, last_line - 1, last_line, true)[1] == "" do
    last_line = last_line - 1
  end
  check(vim.api.nvim_buf_get_lines(0, last_line - 1, last_line, true)[1] == "    return ", "fixture changed")

  test("nib attaches to a Python buffer and loads its model", function()
    local client = wait_for("nib to attach", 30000, nib_client)
    check(client.server_info and client.server_info.name == "nib", "server is not nib")
    check(client.root_dir == workspace, ("root %s, expected %s"):format(tostring(client.root_dir), workspace))
    wait_for("the model to load", 300000, function()
      local s = stats_now(client)
      return s and s.engine ~= "Loading"
    end)
    local s = stats_now(client)
    check(type(s.engine) == "table", "engine not ready: " .. vim.inspect(s.engine))
  end)

  test("<C-x><C-o>, <C-n><C-y> inserts nib's whole suggestion and nib records the acceptance", function()
    vim.bo.omnifunc = "v:lua.vim.lsp.omnifunc"
    local item, before = complete_and_accept(last_line, function()
      keys("<C-x><C-o>")
    end)
    local text = assert_whole(item, last_line, before)
    local words = vim.split(vim.trim(text), "%s+")
    check(#words > 1, ("the suggestion %q is one word: it does not show the fix"):format(text))
    out(("     inserted %q"):format(text))
    wait_for('"suggestion accepted" in nib\'s log', 10000, function()
      return count(read(nib_log), "suggestion accepted") >= 1
    end)
    sleep(300)
    check(count(read(nib_log), "suggestion accepted") == 1, "acceptance recorded more than once")
  end)

  test("with vim.lsp.completion enabled the acceptance is recorded once, not twice", function()
    if not vim.lsp.completion then
      out("     (Neovim " .. tostring(vim.version()) .. " has no vim.lsp.completion: nothing to check)")
      return
    end
    vim.api.nvim_buf_set_lines(0, last_line - 1, -1, true, { "    return " })
    local client = nib_client()
    vim.lsp.completion.enable(true, client.id, 0, { autotrigger = false })
    local item, before = complete_and_accept(last_line, function()
      vim.lsp.completion.get()
    end)
    assert_whole(item, last_line, before)
    wait_for("a second acceptance in nib's log", 10000, function()
      return count(read(nib_log), "suggestion accepted") >= 2
    end)
    sleep(500)
    check(count(read(nib_log), "suggestion accepted") == 2, "acceptance recorded twice for one accept")
    vim.lsp.completion.enable(false, client.id, 0)
  end)

  test("a dismissed menu sends nib/didRejectCompletion", function()
    vim.api.nvim_buf_set_lines(0, last_line - 1, -1, true, { "    return " })
    local lsp_log = vim.lsp.get_log_path()
    local before = count(read(lsp_log), '"nib/didRejectCompletion"')
    insert_at_end(last_line)
    keys("<C-x><C-o>")
    wait_for("nib's item in the completion menu", 240000, menu_nib_item)
    keys("<C-e>")
    wait_for("nib/didRejectCompletion in Neovim's LSP log", 5000, function()
      return count(read(lsp_log), '"nib/didRejectCompletion"') > before
    end)
    local line = vim.api.nvim_buf_get_lines(0, last_line - 1, last_line, true)[1]
    check(line == "    return ", "dismissing changed the line: " .. line)
    -- The message as Neovim logged it (vim.inspect of the request, on one or more lines).
    local log = read(lsp_log)
    local at, from = nil, 1
    while true do
      local s = log:find('"nib/didRejectCompletion"', from, true)
      if not s then
        break
      end
      at, from = s, s + 1
    end
    local sent = log:sub(at, at + 800)
    check(sent:find('"dismissed"', 1, true), "reason is not dismissed: " .. sent)
    -- nib matched it to the suggestion it had answered with and recorded it.
    wait_for('"suggestion rejected" in nib\'s log', 10000, function()
      return read(nib_log):find('suggestion rejected reason="?dismissed')
    end)
  end)

  test(":NibGenerate writes the code a comment describes", function()
    local n = vim.api.nvim_buf_line_count(0)
    vim.api.nvim_buf_set_lines(0, n, n, true, {
      "",
      "",
      "def cheapest(items: list[Item]) -> Item | None:",
      "    # return the item with the lowest unit price, or None when items is empty",
    })
    local comment = n + 4
    vim.api.nvim_win_set_cursor(0, { comment, 6 })
    local msg
    require("nib.actions").run("generate", nil, function(ok, m)
      msg = { ok = ok, text = m }
    end)
    wait_for("the generate action", 300000, function()
      return msg
    end)
    check(msg.ok, msg.text)
    local added = vim.api.nvim_buf_get_lines(0, comment, -1, false)
    local code = vim.tbl_filter(function(l)
      return vim.trim(l) ~= ""
    end, added)
    check(#code > 0, "no code was inserted below the comment")
    out(("     inserted %d line(s), first: %q"):format(#code, code[1]))
  end)

  test(":NibExplain shows nib's explanation of the method at the cursor in a float", function()
    local client = nib_client()
    local actions = require("nib.actions")
    check(actions.offered(client, "explain"), "nib lists no explain action")
    -- Inside `Item.total_value` (the fixture's line 26; :NibGenerate added lines at the end only).
    check(vim.api.nvim_buf_get_lines(0, 25, 26, true)[1]:find("return self.unit_price", 1, true), "fixture changed")
    vim.api.nvim_win_set_cursor(0, { 26, 8 })
    local msg
    actions.run("explain", nil, function(ok, m)
      msg = { ok = ok, text = m }
    end)
    wait_for("nib's explanation", 180000, function()
      return msg
    end)
    check(msg.ok, "explain failed: " .. msg.text)
    local float
    for _, w in ipairs(vim.api.nvim_list_wins()) do
      if vim.api.nvim_win_get_config(w).relative ~= "" then
        float = w
      end
    end
    check(float ~= nil, "no floating window")
    local lines = vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(float), 0, -1, false)
    local text = vim.trim(table.concat(lines, "\n"))
    check(#text > 40, "the float holds no explanation: " .. text)
    out(("     float: %q"):format(text:sub(1, 100)))
    vim.api.nvim_win_close(float, true)
  end)

  test("the other actions either run or say they are not available", function()
    local client = nib_client()
    local actions = require("nib.actions")
    for _, name in ipairs({ "fix", "tests", "refactor" }) do
      local msg
      actions.run(name, nil, function(ok, m)
        msg = { ok = ok, text = m }
      end)
      wait_for(name, 60000, function()
        return msg
      end)
      if actions.offered(client, name) then
        out(("     %s is offered by this nib: %s"):format(name, msg.text))
      else
        check(
          not msg.ok and msg.text:find("not available in this nib version", 1, true),
          name .. ": " .. msg.text
        )
      end
    end
  end)

  test(":NibStats answers with nib's counters", function()
    local stats
    require("nib").stats(function(s)
      stats = s or {}
    end)
    wait_for("nib/stats", 10000, function()
      return stats
    end)
    check(type(stats.ide) == "table", "no ide counters: " .. vim.inspect(stats))
  end)

  test(":checkhealth nib runs without errors", function()
    local ok, err = pcall(vim.cmd, "silent checkhealth nib")
    check(ok, tostring(err))
    local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
    local text = table.concat(lines, "\n")
    vim.cmd("bwipeout!")
    check(text:find("nib binary", 1, true), "no nib binary section:\n" .. text)
    check(not text:find("ERROR", 1, true), "errors reported:\n" .. text)
    check(text:find("attached", 1, true), "no attached server reported:\n" .. text)
    check(text:find("OK nib ", 1, true) or text:find("nib %d"), "no nib version:\n" .. text)
  end)

  test(":NibRestart starts a new server for the buffer", function()
    local old = nib_client()
    vim.cmd("NibRestart")
    local new = wait_for("a new nib client", 30000, function()
      local c = nib_client()
      return c and c.id ~= old.id and c.initialized and c
    end)
    check(new.root_dir == workspace, "restarted with another root")
  end)
end

co = coroutine.create(function()
  local ok, err = pcall(main)
  if not ok then
    failed = failed + 1
    out("FAIL setup: " .. tostring(err))
  end
  out(("%d passed, %d failed"):format(passed, failed))
  for _, client in ipairs(vim.lsp.get_clients()) do
    require("nib.util").stop(client)
  end
  vim.wait(3000, function()
    return #vim.lsp.get_clients() == 0
  end, 50)
  vim.cmd(("cquit %d"):format(math.min(failed, 98)))
end)
vim.schedule(resume)
