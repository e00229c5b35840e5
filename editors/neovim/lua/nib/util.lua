-- Small helpers that hide the differences between Neovim 0.10 (client methods called with a
-- dot) and 0.11+ (client methods called with a colon).
local M = {}

local colon = vim.fn.has("nvim-0.11") == 1

---@return boolean
function M.has_ghost_text()
  return vim.lsp.inline_completion ~= nil
end

---@param bufnr integer?
---@return vim.lsp.Client?
function M.client(bufnr)
  local filter = { name = "nib" }
  if bufnr then
    filter.bufnr = bufnr
  end
  return vim.lsp.get_clients(filter)[1]
end

function M.request(client, method, params, handler, bufnr)
  if colon then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

function M.notify(client, method, params)
  if colon then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

---@param client vim.lsp.Client
---@param command lsp.Command
---@param bufnr integer
function M.exec_cmd(client, command, bufnr)
  if colon then
    return client:exec_cmd(command, { bufnr = bufnr })
  end
  return client.request("workspace/executeCommand", {
    command = command.command,
    arguments = command.arguments,
  }, function() end, bufnr)
end

function M.stop(client)
  if colon then
    return client:stop()
  end
  return client.stop()
end

function M.is_stopped(client)
  if colon then
    return client:is_stopped()
  end
  return client.is_stopped()
end

--- The LSP position (in `encoding`) of a 0-based row and byte column of `bufnr`.
---@return lsp.Position
function M.position(bufnr, row, col, encoding)
  return { line = row, character = vim.lsp.util.character_offset(bufnr, row, col, encoding) }
end

--- The 0-based byte column of an LSP position's character on `line`.
---@param line string
---@param character integer
---@param encoding string
---@return integer
function M.byte_col(line, character, encoding)
  if encoding == "utf-8" then
    return math.min(character, #line)
  end
  local ok, col
  if colon then
    ok, col = pcall(vim.str_byteindex, line, encoding, character, false)
  else
    ok, col = pcall(vim.str_byteindex, line, character, encoding == "utf-16")
  end
  return ok and col or #line
end

function M.notify_user(msg, level)
  if not vim.startswith(msg, "nib") then
    msg = "nib: " .. msg
  end
  vim.notify(msg, level or vim.log.levels.INFO)
end

return M
