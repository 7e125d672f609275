-- Cross-references for the book's preview without Quarto (analysis.report.preview).
--
-- The metadata field `crossref` maps every label of the book (sec-…, fig-…, tbl-…) to
-- its number as Quarto prints it ("2.3", "A.1") and to a link from this page. This
-- filter numbers this page's headings, figures and tables, and turns Quarto's
-- reference syntax (@fig-x, [@sec-a; @tbl-b]) into numbered links, before citeproc
-- sees the remaining citations.

local labels = {}
local words = { sec = "Section", fig = "Figure", tbl = "Table" }

local function entry(id)
  return labels[id]
end

local function name(id, item)
  local kind = id:match("^(%a+)%-")
  if kind == "sec" and item.level == 1 then
    return item.appendix and "Appendix" or "Chapter"
  end
  return words[kind]
end

function Meta(meta)
  for id, item in pairs(meta.crossref or {}) do
    labels[id] = {
      number = pandoc.utils.stringify(item.number),
      href = pandoc.utils.stringify(item.href),
      level = tonumber(pandoc.utils.stringify(item.level or "0")),
      appendix = pandoc.utils.stringify(item.appendix or "") == "true",
    }
  end
end

function Header(el)
  local item = entry(el.identifier)
  if item and item.number ~= "" then
    el.content:insert(1, pandoc.Space())
    el.content:insert(1, pandoc.Span(pandoc.Str(item.number), { class = "header-section-number" }))
  end
  return el
end

function Figure(el)
  local item = entry(el.identifier)
  if item then
    local prefix = pandoc.Inlines({ pandoc.Str(name(el.identifier, item) .. "\u{a0}" .. item.number .. ":"), pandoc.Space() })
    local blocks = el.caption.long
    if #blocks > 0 and blocks[1].content then
      blocks[1].content = prefix .. blocks[1].content
    else
      el.caption.long = { pandoc.Plain(prefix) }
    end
  end
  return el
end

function Div(el)
  local item = entry(el.identifier)
  if item and el.identifier:match("^tbl%-") then
    for _, block in ipairs(el.content) do
      if block.t == "Para" or block.t == "Plain" then
        block.content = pandoc.Inlines({ pandoc.Strong(pandoc.Str("Table\u{a0}" .. item.number .. ":")), pandoc.Space() }) .. block.content
        break
      end
    end
  end
  return el
end

function Cite(el)
  local links = pandoc.Inlines({})
  for i, citation in ipairs(el.citations) do
    local item = entry(citation.id)
    if not item then
      return nil -- a bibliography citation: leave it to citeproc
    end
    if i > 1 then
      links:insert(pandoc.Str(";"))
      links:insert(pandoc.Space())
    end
    local text = name(citation.id, item) .. "\u{a0}" .. item.number
    links:insert(pandoc.Link(pandoc.Str(text), item.href, "", { class = "quarto-xref" }))
  end
  return links
end

return { { Meta = Meta }, { Header = Header, Figure = Figure, Div = Div, Cite = Cite } }
