"""A local server that speaks OpenAI Realtime's and Gemini Live's wire protocols."""
